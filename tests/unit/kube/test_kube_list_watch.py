"""The shared list-then-watch loop over a scripted API: what it does after each kind of end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from lightkube.resources.core_v1 import ConfigMap
from tests.support.eventually import eventually_async
from tests.unit.kube.scripted_api import ScriptedApi, config_map

from sandboxmesh import kube

FAST = kube.ListWatchSettings(retry_initial_seconds=0.01, retry_max_seconds=0.02)


@dataclass
class Seen:
    lists: list[list[str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    failures: list[kube.KubeError] = field(default_factory=list)

    def listed(self, objects: list[dict[str, Any]]) -> None:
        self.lists.append([o["metadata"]["name"] for o in objects])

    def changed(self, event: str, obj: dict[str, Any]) -> None:
        self.events.append((event, obj["metadata"]["name"]))


class BrokenHandler(Seen):
    def changed(self, event: str, obj: dict[str, Any]) -> None:
        raise KeyError("a bug in the handler")


@pytest.fixture
async def run_loop() -> AsyncIterator[Callable[..., asyncio.Task[Any]]]:
    tasks: list[asyncio.Task[Any]] = []

    def start(api: ScriptedApi, seen: Seen, settings: kube.ListWatchSettings = FAST) -> Any:
        task = asyncio.create_task(
            kube.list_then_watch(
                api.client(),
                kube.Selection(ConfigMap, namespace="default"),
                seen.listed,
                seen.changed,
                settings=settings,
                on_failure=seen.failures.append,
            )
        )
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_watch_cut_off_mid_stream_is_followed_by_a_list_that_replaces_the_state(
    run_loop: Callable[..., asyncio.Task[Any]],
) -> None:
    # `b` is deleted while the watch is away: only the new list can say so.
    api = ScriptedApi(
        lists=[[config_map("a"), config_map("b")], [config_map("a"), config_map("c")]],
        watches=[
            [
                ("ADDED", config_map("c", "2")),
                httpx2.RemoteProtocolError("peer closed connection without sending body"),
            ]
        ],
    )
    seen = Seen()
    run_loop(api, seen)
    await eventually_async(lambda: _true(len(seen.lists) == 2), timeout=5, what="a second list")
    assert seen.lists == [["a", "b"], ["a", "c"]]
    assert seen.events == [("ADDED", "c")]
    (failure,) = seen.failures
    assert isinstance(failure, kube.KubeConnectionError)
    assert isinstance(failure.__cause__, httpx2.RemoteProtocolError)
    assert "RemoteProtocolError" in str(failure)


async def test_an_expired_resource_version_lists_again(
    run_loop: Callable[..., asyncio.Task[Any]],
) -> None:
    gone = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
            "reason": "Expired", "message": "too old resource version: 1 (5)"}  # fmt: skip
    api = ScriptedApi(lists=[[config_map("a")]], watches=[[("ERROR", gone)]])
    seen = Seen()
    run_loop(api, seen)
    await eventually_async(lambda: _true(len(seen.lists) == 2), timeout=5, what="a relist")
    (failure,) = seen.failures
    assert isinstance(failure, kube.KubeApiError)
    assert (failure.code, failure.reason) == (410, "Expired")


async def test_the_loop_lists_again_at_each_resync_without_a_failure(
    run_loop: Callable[..., asyncio.Task[Any]],
) -> None:
    api = ScriptedApi(lists=[[config_map("a")]])
    seen = Seen()
    run_loop(api, seen, kube.ListWatchSettings(resync_seconds=0.05))
    await eventually_async(lambda: _true(len(seen.lists) >= 3), timeout=5, what="resyncs")
    assert seen.failures == []
    assert api.requests[:4] == ["list", "watch", "list", "watch"]


async def test_an_error_of_a_callback_ends_the_loop_with_it(
    run_loop: Callable[..., asyncio.Task[Any]],
) -> None:
    api = ScriptedApi(lists=[[config_map("a")]], watches=[[("ADDED", config_map("b", "2"))]])
    seen = BrokenHandler()
    task = run_loop(api, seen)
    with pytest.raises(KeyError, match="a bug in the handler"):
        await asyncio.wait_for(task, timeout=5)
    assert api.requests == ["list", "watch"]
    assert seen.failures == []


async def test_an_error_no_client_error_class_covers_ends_the_loop_with_it(
    run_loop: Callable[..., asyncio.Task[Any]],
) -> None:
    api = ScriptedApi(lists=[[config_map("a")]], watch_fails_with=RuntimeError("unexpected"))
    task = run_loop(api, Seen())
    with pytest.raises(RuntimeError, match="unexpected"):
        await asyncio.wait_for(task, timeout=5)


async def _true(value: bool) -> bool:
    return value
