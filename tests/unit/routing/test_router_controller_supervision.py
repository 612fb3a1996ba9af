"""The router controller's watches and reconciles run as one group: a bug in any ends it."""

from __future__ import annotations

import asyncio

from tests.support.eventually import eventually_async
from tests.unit.kube.scripted_api import ScriptedApi

from sandboxmesh.routing.controllers.router_placement import (
    RouterController,
    RouterControllerSettings,
)
from sandboxmesh.routing.core.routers import Stage
from sandboxmesh.supervisor import describe_failure


class BuggyReconcile(RouterController):
    async def reconcile(self, namespace: str, name: str) -> Stage | None:
        raise RuntimeError(f"a bug reconciling {namespace}/{name}") from KeyError("spec")


async def test_a_reconcile_dying_of_a_bug_ends_the_controller_and_its_watches() -> None:
    api = ScriptedApi(lists=[[]])
    controller = BuggyReconcile(api.client(), RouterControllerSettings())
    run = asyncio.create_task(controller.run())
    try:

        async def watching() -> bool:
            return api.requests.count("watch") == 3

        await eventually_async(watching, timeout=5, what="the three watches")
        watches = {t for t in asyncio.all_tasks() if t is not run and not t.done()}
        controller.kick(("shop", "checkout"))
        await asyncio.wait_for(asyncio.wait({run}), timeout=5)
        error = run.exception()
        assert describe_failure("router controller", error) == (
            "router controller failed: RuntimeError: a bug reconciling shop/checkout "
            "(caused by KeyError: 'spec')"
        )
        # No watch is left running behind the failure.
        current = asyncio.current_task()
        assert all(t.done() for t in watches if t is not current)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
