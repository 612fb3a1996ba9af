"""A supervised task that ends by itself takes the process's readiness with it, saying why."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prometheus_client import CollectorRegistry

from sandboxmesh.dev.processes import free_port
from sandboxmesh.probes import ProbeServer
from sandboxmesh.supervisor import Supervisor, describe_failure


async def _crashes_after(started: asyncio.Event) -> None:
    await started.wait()
    raise RuntimeError("injected fault") from KeyError("missing")


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_task_that_dies_turns_readyz_red_with_its_type_and_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probes = ProbeServer("127.0.0.1", free_port(), CollectorRegistry())
    await probes.start()
    probes.ready.set()
    supervisor = Supervisor("agent", on_failure=probes.fail)
    crash = asyncio.Event()
    supervisor.spawn("Sandbox status watch", _crashes_after(crash))
    supervisor.spawn("assignment poller", _forever())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{probes.port}") as http:
            assert (await http.get("/readyz")).status_code == 200
            with caplog.at_level(logging.INFO):
                crash.set()
                await asyncio.wait_for(supervisor.failed.wait(), timeout=5)
            probes.ready.set()  # a readiness loop setting it again does not undo the failure
            response = await http.get("/readyz")
        assert response.status_code == 503
        reason = (
            "Sandbox status watch failed: RuntimeError: injected fault "
            "(caused by KeyError: 'missing')"
        )
        assert response.json() == {"status": "failed", "reason": reason}
        assert supervisor.failure == reason
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [f"agent: {reason}; not ready from now on"]
    finally:
        await supervisor.stop()
        await probes.stop()


async def test_a_task_that_returns_is_a_failure_and_stopping_is_not() -> None:
    supervisor = Supervisor("agent")

    async def returns() -> None:
        return

    supervisor.spawn("status reporter", returns())
    await asyncio.wait_for(supervisor.failed.wait(), timeout=5)
    assert supervisor.failure == "status reporter ended by itself"

    calm = Supervisor("agent")
    calm.spawn("assignment poller", _forever())
    await calm.stop()
    assert (calm.failure, calm.failed.is_set()) == (None, False)


def test_a_task_groups_single_error_is_described_by_that_error() -> None:
    try:
        raise ValueError("its cause")
    except ValueError as cause:
        error = RuntimeError("a bug")
        error.__cause__ = cause
    group = ExceptionGroup("unhandled errors in a TaskGroup", [error])
    assert describe_failure("router controller", group) == (
        "router controller failed: RuntimeError: a bug (caused by ValueError: its cause)"
    )
