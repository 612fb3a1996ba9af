"""The dependency both HTTP faces declare: the process's `Runtime` (store, clock, metrics)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sandboxmesh.controlplane.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
