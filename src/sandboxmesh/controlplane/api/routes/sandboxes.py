"""Sandboxes (intent): apply by name, list with filters, get, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.api.deps import OrgScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.usecases import sandboxes
from sandboxmesh.controlplane.web.dependencies import RuntimeDep
from sandboxmesh.controlplane.web.paths import SandboxName
from sandboxmesh.controlplane.web.schemas.sandboxes import (
    SandboxList,
    SandboxPublic,
    sandbox_public,
)
from sandboxmesh.spec import Phase, SandboxManifest, names

router = APIRouter(prefix="/api/v1/sandboxes", tags=["sandboxes"], responses=ERROR_RESPONSES)

LabelSelector = Annotated[
    list[str],
    Query(
        max_length=16,
        description="key=value; repeat to require several labels",
    ),
]
Name = Annotated[str | None, Query(min_length=1, max_length=63, pattern=names.DNS_LABEL_PATTERN)]


@router.put(
    "/{name}",
    responses={201: {"model": SandboxPublic, "description": "Created"}},
)
async def apply_sandbox(
    name: SandboxName,
    manifest: SandboxManifest,
    org: OrgScope,
    runtime: RuntimeDep,
    response: Response,
) -> SandboxPublic:
    """Create the sandbox `name`, or update its spec (201 when created, 200 otherwise).

    The body is the manifest users write (DESIGN.md §2); its `name` must equal the path's.
    The rules are `usecases.sandboxes.apply_sandbox`'s. The create itself is written as the
    request's transaction ends: its refusal (a quota: 409) is then raised there, after this
    returned.
    """
    if manifest.name != name:
        raise errors.Invalid.field(["body", "name"], f"must equal the name in the path ({name})")
    applied = await sandboxes.apply_sandbox(org, manifest, metrics=runtime.metrics)
    if applied.created:
        response.status_code = status.HTTP_201_CREATED
    return sandbox_public(applied.sandbox)


@router.get("")
async def list_sandboxes(
    org: OrgScope,
    team: Name = None,
    cluster: Name = None,
    label: LabelSelector = [],  # noqa: B006 (FastAPI copies defaults per request)
    phase: Phase | None = None,
    after: Name = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SandboxList:
    labels: dict[str, str] = {}
    for selector in label:
        key, sep, value = selector.partition("=")
        if not sep or not key:
            raise errors.Invalid.field(["query", "label"], f"not key=value: {selector!r}")
        labels[key] = value
    found = await org.sandboxes.search(
        team=team, cluster=cluster, labels=labels, phase=phase, after=after, limit=limit + 1
    )
    page = found[:limit]
    return SandboxList(
        items=[sandbox_public(s) for s in page],
        next=page[-1].name if len(found) > limit else None,
    )


@router.get("/{name}")
async def get_sandbox(name: SandboxName, org: OrgScope) -> SandboxPublic:
    return sandbox_public(await org.sandboxes.get(name))


@router.delete("/{name}", status_code=status.HTTP_202_ACCEPTED)
async def delete_sandbox(name: SandboxName, org: OrgScope) -> SandboxPublic:
    """Request deletion: the sandbox stays `deleting` until its agent confirms it is gone."""
    return sandbox_public(await sandboxes.delete_sandbox(org, name))
