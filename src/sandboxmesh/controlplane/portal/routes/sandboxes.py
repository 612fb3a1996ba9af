"""Sandboxes: a live list with a filter, a detail view, create from a form or YAML, delete."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.portal import forms, sandbox_forms
from sandboxmesh.controlplane.portal.context import Member, SignedIn
from sandboxmesh.controlplane.portal.rendering import fragment, page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.usecases import sandboxes, traces
from sandboxmesh.controlplane.web.paths import SandboxName
from sandboxmesh.controlplane.web.schemas.sandboxes import SandboxPublic, sandbox_public
from sandboxmesh.spec import Phase, SandboxManifest

# Pages that are not one sandbox live outside /sandboxes/{name} (or under a name with "_",
# which no sandbox can have), so no sandbox name can hide them.
router = APIRouter()

Filter = Annotated[str, Query(max_length=63)]
#: How often the live parts of the pages ask for news.
POLL = "every 2s"
#: The headers a request carries to reach a sandbox's forks (DESIGN.md §3).
ROUTING_HEADER = "x-sandboxmesh-routing-key"
BAGGAGE_MEMBER = "sandboxmesh-routing-key"
#: How many of its last route traces a sandbox's page links.
RECENT_TRACES = 10


def _fingerprint(items: list[SandboxPublic]) -> str:
    digest = hashlib.sha256()
    for s in items:
        status = s.status
        digest.update(
            f"{s.name}|{status.phase}|{status.ready}|{status.reason}|{status.message}|"
            f"{s.generation}|{s.deleting}|{status.observed_generation}\n".encode()
        )
    return digest.hexdigest()[:16]


async def _search(
    member: Member, team: str, cluster: str, phase: str, q: str
) -> list[SandboxPublic]:
    chosen = phase if phase in {p.value for p in Phase} else None
    async with member.org() as org:
        found = await org.sandboxes.search(
            team=team or None, cluster=cluster or None, phase=chosen, limit=500
        )
    return [sandbox_public(s) for s in found if q.lower() in s.name]


@router.get("/sandboxes")
async def list_sandboxes(
    member: SignedIn, team: Filter = "", cluster: Filter = "", phase: Filter = "", q: Filter = ""
) -> Response:
    items = await _search(member, team, cluster, phase, q)
    async with member.org() as org:
        teams = [t.name for t in await org.teams.all()]
        clusters = [c.name for c in await org.clusters.all()]
    filters = {"team": team, "cluster": cluster, "phase": phase, "q": q}
    return page(
        member,
        "sandboxes/list.html",
        section="sandboxes",
        items=items,
        fingerprint=_fingerprint(items),
        filters=filters,
        teams=teams,
        clusters=clusters,
        phases=[p.value for p in Phase],
        poll=POLL,
    )


@router.get("/sandboxes/_rows")
async def sandbox_rows(
    member: SignedIn,
    team: Filter = "",
    cluster: Filter = "",
    phase: Filter = "",
    q: Filter = "",
    v: Filter = "",
) -> Response:
    """The list's rows, for htmx polling; 204 (nothing to swap) when nothing changed, so the
    keyboard focus inside the table is not lost every two seconds."""
    items = await _search(member, team, cluster, phase, q)
    fingerprint = _fingerprint(items)
    if fingerprint == v:
        return Response(status_code=204)
    filters = {"team": team, "cluster": cluster, "phase": phase, "q": q}
    return fragment(
        member,
        "sandboxes/_rows.html",
        items=items,
        fingerprint=fingerprint,
        filters=filters,
        poll=POLL,
    )


async def _choices(member: Member) -> tuple[list[str], list[str]]:
    async with member.org() as org:
        teams = member.can.sandbox_teams([t.name for t in await org.teams.all()])
        clusters = [c.name for c in await org.clusters.all()]
    return teams, clusters


async def _new_page(
    member: Member,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: forms.Errors | None = None,
    yaml_text: str | None = None,
    yaml_errors: list[str] | None = None,
    mode: str = "form",
) -> Response:
    teams, clusters = await _choices(member)
    default_team = (
        member.session.team_names[0] if member.session.team_names else (teams[0] if teams else "")
    )
    chosen = values or {"team": default_team, "cluster": clusters[0] if clusters else ""}
    return page(
        member,
        "sandboxes/new.html",
        section="sandboxes",
        status=status,
        teams=teams,
        clusters=clusters,
        values=chosen,
        errors=problems or {},
        ttl_choices=sandbox_forms.TTL_CHOICES,
        mode=mode,
        yaml_text=yaml_text
        or sandbox_forms.yaml_example(chosen.get("cluster", ""), chosen.get("team", "")),
        yaml_errors=yaml_errors or [],
    )


@router.get("/new/sandbox")
async def new_sandbox_page(member: SignedIn) -> Response:
    return await _new_page(member)


async def _apply(
    member: Member, manifest: SandboxManifest, *, create_only: bool
) -> sandboxes.Applied:
    """Create (or, from YAML, update) a sandbox by the API's rules."""
    return await sandboxes.apply_sandbox_alone(
        member.visitor.runtime, member.principal, manifest, create_only=create_only
    )


def _refusal(error: errors.ApiError) -> forms.Errors:
    if isinstance(error, errors.Invalid):
        found = error.details.get("errors") or [{}]
        location = found[0].get("loc", [])
        message = str(found[0].get("msg", error.message))
        return {sandbox_forms.api_field_of(list(location)): message[:1].upper() + message[1:]}
    if isinstance(error, errors.Conflict) and not isinstance(
        error, errors.QuotaExceeded | errors.MemberSandboxLimit
    ):
        return forms.from_api_error(error, field="name")
    return forms.from_api_error(error)


@router.post("/new/sandbox")
async def create_sandbox(request: Request, member: SignedIn) -> Response:
    data = await forms.fields(request)
    document, problems = sandbox_forms.manifest_from(data)
    manifest = None
    if document is not None:
        manifest, problems = forms.validate(
            SandboxManifest, document, field_of=sandbox_forms.field_of
        )
    if manifest is None:
        return await _new_page(member, status=422, values=data, problems=problems)
    try:
        applied = await _apply(member, manifest, create_only=True)
    except errors.ApiError as refused:
        status = refused.status if refused.status != 404 else 422
        return await _new_page(member, status=status, values=data, problems=_refusal(refused))
    name = applied.sandbox.name
    return redirects.with_notice(member, f"/sandboxes/{name}", f"Sandbox {name} created.")


@router.post("/new/sandbox/yaml")
async def apply_yaml(request: Request, member: SignedIn) -> Response:
    data = await forms.fields(request)
    text = data.get("manifest", "")
    document, problem = sandbox_forms.parse_yaml(text)
    if problem is not None:
        return await _new_page(
            member, status=422, yaml_errors=[problem], yaml_text=text, mode="yaml"
        )
    try:
        manifest = SandboxManifest.model_validate(document)
    except ValidationError as invalid:
        listed = [
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {forms.friendly(e)}"
            for e in invalid.errors()
        ]
        return await _new_page(member, status=422, yaml_errors=listed, yaml_text=text, mode="yaml")
    try:
        applied = await _apply(member, manifest, create_only=False)
    except errors.ApiError as refused:
        return await _new_page(
            member,
            status=refused.status if refused.status != 404 else 422,
            yaml_errors=[refused.message],
            yaml_text=text,
            mode="yaml",
        )
    name, verb = applied.sandbox.name, "created" if applied.created else "updated"
    return redirects.with_notice(member, f"/sandboxes/{name}", f"Sandbox {name} {verb}.")


def _detail_context(sandbox: SandboxPublic) -> dict[str, Any]:
    key = sandbox.routing_key
    return {
        "sandbox": sandbox,
        "curl": f'curl -H "{ROUTING_HEADER}: {key}" "$APP_URL"',
        "curl_baggage": f'curl -H "baggage: {BAGGAGE_MEMBER}={key}" "$APP_URL"',
    }


@router.get("/sandboxes/{name}")
async def sandbox_detail(name: SandboxName, member: SignedIn) -> Response:
    async with member.org() as org:
        sandbox = sandbox_public(await org.sandboxes.get(name))
        recent = await traces.recent_traces(org, name, limit=RECENT_TRACES)
    return page(
        member,
        "sandboxes/detail.html",
        section="sandboxes",
        poll=POLL,
        traces=recent,
        fingerprint=_fingerprint([sandbox]),
        **_detail_context(sandbox),
    )


@router.get("/sandboxes/{name}/status")
async def sandbox_status(name: SandboxName, member: SignedIn, v: Filter = "") -> Response:
    async with member.org() as org:
        found = await org.sandboxes.find(name)
    if found is None:
        return fragment(
            member, "sandboxes/_status.html", sandbox=None, name=name, poll=POLL, fingerprint="gone"
        )
    sandbox = sandbox_public(found)
    fingerprint = _fingerprint([sandbox])
    if fingerprint == v:
        return Response(status_code=204)
    return fragment(
        member,
        "sandboxes/_status.html",
        poll=POLL,
        fingerprint=fingerprint,
        name=name,
        **_detail_context(sandbox),
    )


async def _deletable(member: Member, name: str) -> SandboxPublic:
    async with member.org() as org:
        return sandbox_public(await sandboxes.deletable_sandbox(org, name))


@router.get("/sandboxes/{name}/delete")
async def confirm_delete(name: SandboxName, member: SignedIn) -> Response:
    sandbox = await _deletable(member, name)
    return page(member, "sandboxes/delete.html", section="sandboxes", sandbox=sandbox)


@router.post("/sandboxes/{name}/delete")
async def delete_sandbox(name: SandboxName, member: SignedIn) -> Response:
    async with member.org() as org:
        await sandboxes.delete_sandbox(org, name)
    return redirects.with_notice(
        member, "/sandboxes", f"Deletion of {name} requested: it goes once its cluster confirms."
    )
