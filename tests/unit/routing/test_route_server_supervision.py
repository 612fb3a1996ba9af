"""A route server whose Sandbox watch dies of an unexpected error: red readiness, exit 1."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from tests.support.eventually import eventually_async
from tests.unit.kube.scripted_api import ScriptedApi, sandbox

from sandboxmesh.routing import server
from sandboxmesh.routing.server import RouteServer, RouteServerSettings


def _fault() -> RuntimeError:
    # No client error class covers it: not a failure of the API, so no retry cures it.
    fault = RuntimeError("injected fault")
    fault.__cause__ = ValueError("its cause")
    return fault


async def test_a_watch_dying_of_an_unexpected_error_turns_readiness_red_with_the_reason() -> None:
    api = ScriptedApi(lists=[[sandbox("pr-1")]], watch_fails_with=_fault())
    routes = RouteServer(RouteServerSettings(watch=True), kube_client=api.client())
    await routes.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{routes.http_port}") as http:

            async def red() -> httpx.Response | None:
                response = await http.get("/readyz")
                return response if response.status_code == 503 else None

            # The list went through (the table is synced): red is the failure, not not_synced.
            await eventually_async(
                lambda: _synced(http), timeout=10, what="the first list in the table"
            )
            response = await eventually_async(red, timeout=10, what="readiness to turn red")
            assert response.json()["code"] == "failed"
            assert response.json()["message"] == (
                "Sandbox watch failed: RuntimeError: injected fault "
                "(caused by ValueError: its cause)"
            )
            assert api.requests == ["list", "watch"]  # not retried: a retry cures no bug
    finally:
        await routes.stop()


async def test_the_route_server_process_exits_non_zero_saying_why_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = ScriptedApi(lists=[[sandbox("pr-1")]], watch_fails_with=_fault())
    with caplog.at_level(logging.INFO):
        code = await asyncio.wait_for(
            server.serve_until_signalled(RouteServerSettings(watch=True), kube_client=api.client()),
            timeout=30,
        )
    assert code == server.EXIT_FAILED != server.EXIT_OK
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "route server: Sandbox watch failed: RuntimeError: injected fault "
        "(caused by ValueError: its cause); not ready from now on"
    ]


async def _synced(http: httpx.AsyncClient) -> bool:
    return bool((await http.get("/v1/routes")).json()["synced"])
