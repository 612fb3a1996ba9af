"""Clusters: register (the token shown once, with the Helm install command), connection state
and agent version, rotate and revoke agent tokens, delete."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.portal import forms
from sandboxmesh.controlplane.portal.context import Member, SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.usecases import authorization, clusters
from sandboxmesh.controlplane.web.paths import ClusterName
from sandboxmesh.controlplane.web.schemas.clusters import cluster_public
from sandboxmesh.spec import install, names

router = APIRouter(prefix="/clusters")


class ClusterForm(BaseModel):
    name: names.DnsLabel


async def _list_page(
    member: Member, *, status: int = 200, values: dict[str, str], problems: forms.Errors
) -> Response:
    async with member.org() as org:
        listed = [cluster_public(c, member.visitor.runtime) for c in await org.clusters.all()]
    return page(
        member,
        "clusters/list.html",
        section="clusters",
        status=status,
        clusters=listed,
        values=values,
        errors=problems,
    )


@router.get("")
async def list_clusters(member: SignedIn) -> Response:
    return await _list_page(member, values={}, problems={})


@router.post("")
async def register_cluster(request: Request, member: SignedIn) -> Response:
    # Refused before the form is read, as the API's AdminScope refuses before the body.
    authorization.require_manage(member.principal)
    data = await forms.fields(request)
    form, problems = forms.validate(ClusterForm, data)
    if form is None:
        return await _list_page(member, status=422, values=data, problems=problems)
    try:
        async with member.org() as org:
            registered = await clusters.register_cluster(org, form.name)
    except errors.Conflict:
        problems = {"name": f"A cluster named {form.name} is already registered."}
        return await _list_page(member, status=409, values=data, problems=problems)
    name = registered.cluster.name
    return redirects.with_secret(
        member,
        f"/clusters/{name}",
        f"Cluster {name} registered.",
        {"kind": "cluster", "name": name, "token": registered.token.plaintext},
    )


@router.get("/{name}")
async def cluster_detail(name: ClusterName, request: Request, member: SignedIn) -> Response:
    async with member.org() as org:
        cluster = cluster_public(await org.clusters.get(name), member.visitor.runtime)
        tokens = await clusters.cluster_tokens(org, name) if member.can.manage else []
        sandboxes = await org.sandboxes.search(cluster=name, limit=500)
    url = str(request.base_url).rstrip("/")
    return page(
        member,
        "clusters/detail.html",
        section="clusters",
        cluster=cluster,
        tokens=tokens,
        sandbox_count=len(sandboxes),
        control_plane_url=url,
        install_command=install.install_command,
    )


@router.post("/{name}/rotate")
async def rotate_token(name: ClusterName, member: SignedIn) -> Response:
    async with member.org() as org:
        rotated = await clusters.rotate_token(
            org, name, agent=member.visitor.runtime.settings.agent
        )
    return redirects.with_secret(
        member,
        f"/clusters/{name}",
        f"New agent token issued; the previous ones keep working for {_span(rotated.grace)}.",
        {"kind": "cluster", "name": name, "token": rotated.token.plaintext},
    )


@router.post("/{name}/revoke")
async def revoke_tokens(name: ClusterName, request: Request, member: SignedIn) -> Response:
    prefix = (await forms.fields(request)).get("prefix") or None
    async with member.org() as org:
        await clusters.revoke_tokens(org, name, prefix=prefix)
    what = f"Token {prefix}" if prefix else "Every agent token of this cluster"
    return redirects.with_notice(member, f"/clusters/{name}", f"{what} revoked.")


@router.post("/{name}/delete")
async def delete_cluster(name: ClusterName, member: SignedIn) -> Response:
    try:
        async with member.org() as org:
            await clusters.delete_cluster(org, name)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, f"/clusters/{name}", conflict.message + ".")
    return redirects.with_notice(member, "/clusters", f"Cluster {name} deleted.")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 60:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
