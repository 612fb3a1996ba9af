"""Several server processes on one PostgreSQL: wake-ups cross processes, quotas stay exact."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.support import databases, process_tree
from tests.support.controlplane import manifest
from tests.support.controlplane_server import server_process
from tests.support.eventually import eventually, eventually_async
from typer.testing import CliRunner

from sandboxmesh.cli.app import app
from sandboxmesh.client import AsyncControlPlaneClient, ClientConfig, endpoints, errors
from sandboxmesh.spec.protocol import ASSIGNMENTS_PATH

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin: str | None
) -> Iterator[tuple[str, str, str]]:
    """Two `sandboxmesh server` processes on one fresh database, for the whole module."""
    if postgres_admin is None:
        pytest.skip(databases.SKIP_POSTGRES)
    workdir = tmp_path_factory.mktemp("scale-out")
    database_url = databases.create_postgres_database(postgres_admin)
    try:
        with (
            server_process(database_url, workdir) as first,
            server_process(database_url, workdir) as second,
        ):
            yield first, second, database_url
    finally:
        databases.drop_postgres_database(postgres_admin, database_url)


@pytest.fixture
def two_servers(servers: tuple[str, str, str], tmp_path: Path) -> tuple[str, str, str]:
    """Both URLs and the owner token of an organisation of the test's own."""
    first, second, database_url = servers
    booted = CliRunner().invoke(
        app,
        [
            "admin",
            "bootstrap",
            "--org",
            f"org-{uuid.uuid4().hex[:8]}",
            "--email",
            "o@acme.example",
            "--database-url",
            database_url,
            "-o",
            "json",
        ],
        env={"SANDBOXMESH_HOME": str(tmp_path)},
    )
    assert booted.exit_code == 0, booted.output
    return first, second, json.loads(booted.stdout)["token"]


def _value(metrics: str, metric: str) -> float:
    """The value of an unlabelled `metric` in the text of a scrape."""
    found = re.search(rf"^{metric} (\S+)$", metrics, re.MULTILINE)
    assert found is not None, f"{metric} missing from /metrics"
    return float(found.group(1))


async def _polls_waiting(url: str) -> bool:
    async with httpx.AsyncClient(base_url=url) as http:
        metrics = (await http.get("/metrics")).text
    return _value(metrics, "sandboxmesh_agent_long_polls_waiting") >= 1


async def test_a_change_through_one_process_wakes_a_poll_on_the_other(
    two_servers: tuple[str, str, str],
) -> None:
    first_url, second_url, token = two_servers
    async with (
        AsyncControlPlaneClient(ClientConfig(url=first_url, token=token)) as first,
        AsyncControlPlaneClient(ClientConfig(url=second_url, token=token)) as second,
    ):
        cluster_token = (await first.send(endpoints.register_cluster("staging"))).token
        async with AsyncControlPlaneClient(
            ClientConfig(url=first_url, token=cluster_token)
        ) as agent:
            revision = (await agent.send(endpoints.assignments(0, wait=0))).revision
            for i in range(3):
                poll = asyncio.create_task(agent.send(endpoints.assignments(revision, wait=20)))
                await eventually_async(
                    lambda: _polls_waiting(first_url),
                    timeout=10,
                    what="the poll to wait on the first process",
                )
                assert not poll.done()
                await second.send(endpoints.apply_sandbox(manifest(f"cross-{i}")))
                # Within half the poll's wait, and with the sandbox: the NOTIFY from the
                # second process woke it (a poll whose wait ran out returns nothing).
                batch = await asyncio.wait_for(poll, timeout=10)
                assert [a.name for a in batch.assignments] == [f"cross-{i}"]
                revision = batch.revision


async def test_quotas_are_exact_across_processes(two_servers: tuple[str, str, str]) -> None:
    first_url, second_url, token = two_servers
    async with (
        AsyncControlPlaneClient(ClientConfig(url=first_url, token=token)) as first,
        AsyncControlPlaneClient(ClientConfig(url=second_url, token=token)) as second,
    ):
        await first.send(endpoints.register_cluster("staging"))
        await first.send(endpoints.set_organization_quota(5))

        async def create(i: int) -> bool:
            client = first if i % 2 else second
            try:
                await client.send(endpoints.apply_sandbox(manifest(f"race-{i}")))
            except errors.QuotaExceeded:
                return False
            return True

        outcomes = await asyncio.gather(*(create(i) for i in range(50)))
        assert sum(outcomes) == 5
        listed = await second.send(endpoints.list_sandboxes())
        assert len(listed.items) == 5
        org = await first.send(endpoints.organization())
        assert org.active_sandboxes == 5


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def test_one_server_runs_several_workers_on_postgresql(
    tmp_path: Path, postgres_admin: str | None
) -> None:
    if postgres_admin is None:
        pytest.skip(databases.SKIP_POSTGRES)
    refused = CliRunner().invoke(
        app, ["server", "--workers", "2", "--database-url", f"sqlite:///{tmp_path / 'one.db'}"]
    )
    assert refused.exit_code == 1
    assert (
        refused.output.strip()
        == "error: --workers needs PostgreSQL: SQLite serves from one process"
    )

    database_url = databases.create_postgres_database(postgres_admin)
    try:
        with server_process(database_url, tmp_path, args=["--workers", "2"]) as url:
            port = url.rsplit(":", 1)[1]
            (parent,) = [
                int(entry.name)
                for entry in Path("/proc").iterdir()
                if entry.name.isdigit()
                and "server" in (line := _command_line(int(entry.name)))
                and port in line
            ]
            workers = [
                pid
                for pid in process_tree.descendants(parent)
                if any("spawn_main" in part for part in _command_line(pid))
            ]
            assert len(workers) == 2
            booted = CliRunner().invoke(app, [
                "admin", "bootstrap", "--org", "acme", "--email", "o@acme.example",
                "--database-url", database_url, "-o", "json",
            ], env={"SANDBOXMESH_HOME": str(tmp_path)})  # fmt: skip
            assert booted.exit_code == 0, booted.output
            headers = {"Authorization": f"Bearer {json.loads(booted.stdout)['token']}"}
            # A fresh connection per request: the workers take turns accepting them.
            registered = httpx.post(
                f"{url}/api/v1/clusters", json={"name": "staging"}, headers=headers
            )
            assert registered.status_code == 201
            for number in range(12):
                name = f"pr-{number}"
                created = httpx.put(
                    f"{url}/api/v1/sandboxes/{name}", json=manifest(name), headers=headers
                )
                assert created.status_code == 201, created.text
            listed = httpx.get(f"{url}/api/v1/sandboxes", headers=headers).json()
            assert sorted(item["name"] for item in listed["items"]) == sorted(
                f"pr-{number}" for number in range(12)
            )
            _assert_metrics_add_up_the_workers(url, headers, registered.json()["token"])
            _assert_killed_workers_leave_no_waiting_poll(url, registered.json()["token"], workers)
    finally:
        databases.drop_postgres_database(postgres_admin, database_url)


def _sample(url: str, metric: str) -> float:
    """The value of an unlabelled `metric` in a scrape on a fresh connection."""
    return _value(httpx.get(f"{url}/metrics").text, metric)


def _waiting_poll(pool: ThreadPoolExecutor, url: str, cluster_token: str) -> Future[httpx.Response]:
    """An agent's long-poll with nothing to return, once /metrics counts it waiting."""
    agent = {"Authorization": f"Bearer {cluster_token}"}
    revision = httpx.get(f"{url}{ASSIGNMENTS_PATH}?wait=0", headers=agent).json()["revision"]
    poll = pool.submit(
        httpx.get, f"{url}{ASSIGNMENTS_PATH}?since={revision}&wait=30", headers=agent, timeout=60
    )
    eventually(
        lambda: _sample(url, "sandboxmesh_agent_long_polls_waiting") == 1,
        timeout=10,
        what="the waiting poll in /metrics",
    )
    return poll


def _assert_metrics_add_up_the_workers(url: str, owner: dict[str, str], cluster_token: str) -> None:
    """Whichever worker a scrape reaches, it counts what every worker did: the 12 creates
    (spread over both) and a long-poll waiting on one of them."""
    for _ in range(6):
        assert _sample(url, "sandboxmesh_sandboxes_created_total") == 12
    with ThreadPoolExecutor(max_workers=1) as pool:
        poll = _waiting_poll(pool, url, cluster_token)
        for _ in range(6):
            assert _sample(url, "sandboxmesh_agent_long_polls_waiting") == 1
        woken = httpx.put(f"{url}/api/v1/sandboxes/last", json=manifest("last"), headers=owner)
        assert woken.status_code == 201
        assert [a["name"] for a in poll.result(timeout=30).json()["assignments"]] == ["last"]
    eventually(
        lambda: _sample(url, "sandboxmesh_agent_long_polls_waiting") == 0,
        timeout=10,
        what="no poll waiting in /metrics",
    )


def _assert_killed_workers_leave_no_waiting_poll(
    url: str, cluster_token: str, workers: list[int]
) -> None:
    """Workers killed while a poll waits (no clean stop to mark them dead): once uvicorn has
    replaced them, a scrape counts no poll waiting, and still counts what they did."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        poll = _waiting_poll(pool, url, cluster_token)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(httpx.HTTPError):
            poll.result(timeout=30)  # its worker is gone
    eventually(
        lambda: _sample(url, "sandboxmesh_agent_long_polls_waiting") == 0,
        timeout=60,
        what="the killed workers' poll gone from /metrics",
    )
    assert _sample(url, "sandboxmesh_sandboxes_created_total") == 13
