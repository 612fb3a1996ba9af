"""The SQLite store and its -wal and -shm files are readable by their owner only."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxmesh.controlplane.store import migrate
from sandboxmesh.controlplane.store.engine import Store, create_engine


@pytest.fixture
def usual_umask() -> Iterator[None]:
    # With the usual 022 SQLite would create the file 0644: readable by every local user.
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(directory: Path) -> dict[str, int]:
    return {path.name: _mode(path) for path in directory.iterdir()}


@pytest.mark.usefixtures("usual_umask")
async def test_a_new_database_and_its_journal_are_created_0600(tmp_path: Path) -> None:
    database = tmp_path / "home" / "controlplane.db"
    store = Store(create_engine(f"sqlite:///{database}"))
    try:
        await migrate.upgrade(store.engine)
        async with store.transaction() as connection:
            await connection.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            await connection.exec_driver_sql("INSERT INTO probe VALUES (1)")
        # While a connection is open, WAL mode keeps the -wal and -shm files beside it.
        assert _modes(database.parent) == {
            "controlplane.db": 0o600,
            "controlplane.db-shm": 0o600,
            "controlplane.db-wal": 0o600,
        }
    finally:
        await store.dispose()


@pytest.mark.usefixtures("usual_umask")
async def test_an_existing_database_others_can_read_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "controlplane.db"
    database.touch(mode=0o644)
    with caplog.at_level(logging.WARNING, logger="sandboxmesh.controlplane.store.engine"):
        engine = create_engine(f"sqlite:///{database}")
    await engine.dispose()
    assert _mode(database) == 0o644  # its owner's choice, or an older version's: left alone
    assert f"{database} can be read by others (mode 644): chmod 600 it" in caplog.text
