"""When a sandbox's or a route group's TTL runs out (DESIGN.md §2: offsetFrom createdAt or
updatedAt)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sandboxmesh.spec import SandboxSpec, TtlOffset
from sandboxmesh.spec.routegroup import RouteGroupSpec


def expires_at(
    spec: SandboxSpec | RouteGroupSpec, *, created_at: datetime, updated_at: datetime
) -> datetime | None:
    if spec.ttl is None:
        return None
    start = created_at if spec.ttl.offset_from is TtlOffset.CREATED_AT else updated_at
    return start + timedelta(seconds=spec.ttl.seconds)
