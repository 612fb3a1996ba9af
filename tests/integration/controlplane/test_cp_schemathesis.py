"""schemathesis against the OpenAPI document of a running server: no input gives a 5xx.

Examples are bounded (hypothesis `max_examples`) so the suite stays quick; the requests carry
a valid owner token so they reach past authentication into validation and the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.support import databases
from tests.support.controlplane_server import server_process
from typer.testing import CliRunner

from sandboxmesh.cli.app import app

MAX_EXAMPLES = 12


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    postgres_admin: str | None,
) -> Iterator[tuple[str, str]]:
    """A server with a bootstrapped organisation and a registered cluster: (URL, token)."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        database_url = databases.copy_sqlite(sqlite_template, workdir / "controlplane.db")
    elif postgres_admin is None:
        pytest.skip(databases.SKIP_POSTGRES)
    else:
        database_url = databases.create_postgres_database(postgres_admin)
    booted = CliRunner().invoke(
        app,
        [
            "admin",
            "bootstrap",
            "--org",
            "acme",
            "--email",
            "o@acme.example",
            "--database-url",
            database_url,
            "-o",
            "json",
        ],
        env={"SANDBOXMESH_HOME": str(workdir)},
    )
    assert booted.exit_code == 0, booted.output
    token = json.loads(booted.stdout)["token"]
    try:
        with server_process(database_url, workdir) as url:
            yield url, token
    finally:
        if request.param == "postgres" and postgres_admin is not None:
            databases.drop_postgres_database(postgres_admin, database_url)


def test_no_input_makes_the_server_fail(running: tuple[str, str]) -> None:
    url, token = running
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 30
    failures: list[str] = []
    for operation in operations:
        # schemathesis' own pytest plugin predates pytest 9; hypothesis drives it directly.
        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )
            elif response.status_code >= 400:
                body = response.json()
                assert {"code", "message", "details"} <= set(body), body

        check()
    assert failures == []
