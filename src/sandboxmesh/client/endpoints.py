"""Every call of the control plane API as data: method, path, parameters, and how to decode
the answer. I/O-free and shared by the sync and async clients (httpx's habit).

Every answer with a body decodes into its model: `sandboxmesh.spec.api`'s for management calls
(a body that is not the model raises `errors.UnexpectedResponse`), `sandboxmesh.spec.protocol`'s
for the agent's (strict both ways, as docs/agent-protocol.md promises).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from sandboxmesh.client import errors
from sandboxmesh.spec import SandboxManifest
from sandboxmesh.spec.api import (
    AuditList,
    ClusterList,
    ClusterPublic,
    ClusterRegistered,
    ClusterTokenList,
    LifetimePolicyPublic,
    MemberCreated,
    MemberList,
    MemberPublic,
    OrganizationPublic,
    SandboxList,
    SandboxPublic,
    TeamList,
    TeamPublic,
    TokenCreated,
    TokenList,
    TokenPublic,
    TokenRotated,
    TraceCreate,
    TraceList,
    TracePublic,
    UsageStatement,
    WebhookSecretCreated,
    WebhookSecretPublic,
    WhoAmI,
)
from sandboxmesh.spec.api.routegroups import RouteGroupList, RouteGroupPublic
from sandboxmesh.spec.protocol import (
    ASSIGNMENTS_PATH,
    STATUS_PATH,
    TRACES_PATH,
    AssignmentBatch,
    StatusAck,
    StatusReportBatch,
    TraceAck,
    TraceReport,
)
from sandboxmesh.spec.routegroup import RouteGroupManifest

T = TypeVar("T")
Body = TypeVar("Body", bound=pydantic.BaseModel)
Json = dict[str, Any]


#: A Call only produces its result: a Call[RouteGroupList] is a Call[Page[RouteGroupPublic]].
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Call(Generic[T_co]):
    method: str
    path: str
    decode: Callable[[httpx.Response], T_co]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    #: Seconds to wait for the answer; None for the client's default.
    timeout: float | None = None


def check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise errors.error_for(response.status_code, body)
    return response


def _nothing(response: httpx.Response) -> None:
    check(response)


def _text(response: httpx.Response) -> str:
    return check(response).text


def _model(kind: type[Body]) -> Callable[[httpx.Response], Body]:
    def decode(response: httpx.Response) -> Body:
        check(response)
        try:
            # Fields this client does not know are a newer server's additions: ignored, so that
            # an older CLI keeps working (the server still refuses unknown fields in requests).
            return kind.model_validate_json(response.content, extra="ignore")
        except pydantic.ValidationError as error:
            raise errors.UnexpectedResponse.of(
                kind.__name__, response.status_code, error
            ) from error

    return decode


def _protocol_model(kind: type[Body]) -> Callable[[httpx.Response], Body]:
    """The agent protocol's decoding, strict both ways (docs/agent-protocol.md, Versioning):
    an unknown field or a malformed answer raises pydantic's error, as the agent expects."""

    def decode(response: httpx.Response) -> Body:
        return kind.model_validate(check(response).json())

    return decode


def _seg(name: str) -> str:
    return quote(name, safe="")


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# Organisation, caller, audit, usage


def whoami() -> Call[WhoAmI]:
    return Call("GET", "/api/v1/whoami", _model(WhoAmI))


def organization() -> Call[OrganizationPublic]:
    return Call("GET", "/api/v1/organization", _model(OrganizationPublic))


def set_organization_quota(max_sandboxes: int | None) -> Call[OrganizationPublic]:
    return Call(
        "PUT",
        "/api/v1/organization/quota",
        _model(OrganizationPublic),
        json={"maxSandboxes": max_sandboxes},
    )


def set_plan(plan: str) -> Call[OrganizationPublic]:
    return Call("PUT", "/api/v1/organization/plan", _model(OrganizationPublic), json={"plan": plan})


def audit(*, action: str | None = None, limit: int = 100) -> Call[AuditList]:
    return Call(
        "GET",
        "/api/v1/audit",
        _model(AuditList),
        params=_drop_none({"action": action, "limit": limit}),
    )


def usage(*, month: str | None = None, team: str | None = None) -> Call[UsageStatement]:
    return Call(
        "GET",
        "/api/v1/usage",
        _model(UsageStatement),
        params=_drop_none({"month": month, "team": team}),
    )


def usage_csv(*, month: str | None = None, team: str | None = None) -> Call[str]:
    params = _drop_none({"month": month, "team": team, "format": "csv"})
    return Call("GET", "/api/v1/usage", _text, params=params)


# Teams


def list_teams() -> Call[TeamList]:
    return Call("GET", "/api/v1/teams", _model(TeamList))


def create_team(name: str, *, max_sandboxes: int | None = None) -> Call[TeamPublic]:
    body = _drop_none({"name": name, "maxSandboxes": max_sandboxes})
    return Call("POST", "/api/v1/teams", _model(TeamPublic), json=body)


def get_team(name: str) -> Call[TeamPublic]:
    return Call("GET", f"/api/v1/teams/{_seg(name)}", _model(TeamPublic))


def delete_team(name: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/teams/{_seg(name)}", _nothing)


def set_team_quota(name: str, max_sandboxes: int | None) -> Call[TeamPublic]:
    return Call(
        "PUT",
        f"/api/v1/teams/{_seg(name)}/quota",
        _model(TeamPublic),
        json={"maxSandboxes": max_sandboxes},
    )


# Lifetime policies (docs/policy.md)


def _policy_path(team: str | None) -> str:
    return "/api/v1/organization/policy" if team is None else f"/api/v1/teams/{_seg(team)}/policy"


def get_policy(*, team: str | None = None) -> Call[LifetimePolicyPublic]:
    """The organisation's lifetime policy, or `team`'s."""
    return Call("GET", _policy_path(team), _model(LifetimePolicyPublic))


def set_policy(policy: Mapping[str, Any], *, team: str | None = None) -> Call[LifetimePolicyPublic]:
    """Replace the organisation's (or `team`'s) policy with `policy` (the API's fields:
    defaultTtl, maxTtl, defaultIdle, maxSandboxesPerMember; left out: no bound)."""
    return Call("PUT", _policy_path(team), _model(LifetimePolicyPublic), json=dict(policy))


def webhook_secret() -> Call[WebhookSecretPublic]:
    return Call("GET", "/api/v1/organization/webhook-secret", _model(WebhookSecretPublic))


def rotate_webhook_secret() -> Call[WebhookSecretCreated]:
    """A new GitHub webhook secret for the organisation, replacing the old one (shown once)."""
    return Call("POST", "/api/v1/organization/webhook-secret", _model(WebhookSecretCreated))


def delete_webhook_secret() -> Call[None]:
    return Call("DELETE", "/api/v1/organization/webhook-secret", _nothing)


# Members and tokens


def list_members() -> Call[MemberList]:
    return Call("GET", "/api/v1/members", _model(MemberList))


def add_member(
    email: str, *, role: str = "member", teams: list[str] | None = None
) -> Call[MemberCreated]:
    body = {"email": email, "role": role, "teams": teams or []}
    return Call("POST", "/api/v1/members", _model(MemberCreated), json=body)


def get_member(email: str) -> Call[MemberPublic]:
    return Call("GET", f"/api/v1/members/{_seg(email)}", _model(MemberPublic))


def update_member(
    email: str, *, role: str | None = None, teams: list[str] | None = None
) -> Call[MemberPublic]:
    body = _drop_none({"role": role, "teams": teams})
    return Call("PATCH", f"/api/v1/members/{_seg(email)}", _model(MemberPublic), json=body)


def remove_member(email: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/members/{_seg(email)}", _nothing)


def list_tokens(*, everyone: bool = False) -> Call[TokenList]:
    return Call(
        "GET", "/api/v1/tokens", _model(TokenList), params={"all": "true"} if everyone else {}
    )


def create_token(name: str, *, expires_in_days: int | None = None) -> Call[TokenCreated]:
    body = _drop_none({"name": name, "expiresInDays": expires_in_days})
    return Call("POST", "/api/v1/tokens", _model(TokenCreated), json=body)


def revoke_token(prefix: str) -> Call[TokenPublic]:
    return Call("DELETE", f"/api/v1/tokens/{_seg(prefix)}", _model(TokenPublic))


# Clusters


def list_clusters() -> Call[ClusterList]:
    return Call("GET", "/api/v1/clusters", _model(ClusterList))


def register_cluster(name: str) -> Call[ClusterRegistered]:
    return Call("POST", "/api/v1/clusters", _model(ClusterRegistered), json={"name": name})


def get_cluster(name: str) -> Call[ClusterPublic]:
    return Call("GET", f"/api/v1/clusters/{_seg(name)}", _model(ClusterPublic))


def delete_cluster(name: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/clusters/{_seg(name)}", _nothing)


def list_cluster_tokens(name: str) -> Call[ClusterTokenList]:
    return Call("GET", f"/api/v1/clusters/{_seg(name)}/tokens", _model(ClusterTokenList))


def rotate_cluster_token(name: str, *, grace_seconds: int | None = None) -> Call[TokenRotated]:
    body = _drop_none({"graceSeconds": grace_seconds})
    return Call(
        "POST", f"/api/v1/clusters/{_seg(name)}/tokens/rotate", _model(TokenRotated), json=body
    )


def revoke_cluster_tokens(name: str, *, prefix: str | None = None) -> Call[ClusterTokenList]:
    body = _drop_none({"prefix": prefix})
    return Call(
        "POST", f"/api/v1/clusters/{_seg(name)}/tokens/revoke", _model(ClusterTokenList), json=body
    )


# Sandboxes


def apply_sandbox(manifest: SandboxManifest | Json) -> Call[SandboxPublic]:
    document = (
        manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(manifest, SandboxManifest)
        else manifest
    )
    name = str(document.get("name", ""))
    return Call("PUT", f"/api/v1/sandboxes/{_seg(name)}", _model(SandboxPublic), json=document)


def list_sandboxes(
    *,
    team: str | None = None,
    cluster: str | None = None,
    labels: Mapping[str, str] | None = None,
    phase: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> Call[SandboxList]:
    params: dict[str, Any] = _drop_none(
        {"team": team, "cluster": cluster, "phase": phase, "after": after, "limit": limit}
    )
    if labels:
        params["label"] = [f"{k}={v}" for k, v in labels.items()]
    return Call("GET", "/api/v1/sandboxes", _model(SandboxList), params=params)


def get_sandbox(name: str) -> Call[SandboxPublic]:
    return Call("GET", f"/api/v1/sandboxes/{_seg(name)}", _model(SandboxPublic))


def delete_sandbox(name: str) -> Call[SandboxPublic]:
    return Call("DELETE", f"/api/v1/sandboxes/{_seg(name)}", _model(SandboxPublic))


# Route groups


def apply_route_group(manifest: RouteGroupManifest | Json) -> Call[RouteGroupPublic]:
    document = (
        manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(manifest, RouteGroupManifest)
        else manifest
    )
    name = str(document.get("name", ""))
    return Call("PUT", f"/api/v1/routegroups/{_seg(name)}", _model(RouteGroupPublic), json=document)


def list_route_groups(
    *, cluster: str | None = None, after: str | None = None, limit: int | None = None
) -> Call[RouteGroupList]:
    params = _drop_none({"cluster": cluster, "after": after, "limit": limit})
    return Call("GET", "/api/v1/routegroups", _model(RouteGroupList), params=params)


def get_route_group(name: str) -> Call[RouteGroupPublic]:
    return Call("GET", f"/api/v1/routegroups/{_seg(name)}", _model(RouteGroupPublic))


def delete_route_group(name: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/routegroups/{_seg(name)}", _nothing)


# Route traces


def request_trace(sandbox: str, trace_id: str) -> Call[TracePublic]:
    body = TraceCreate(trace_id=trace_id).model_dump(mode="json", by_alias=True)
    return Call("POST", f"/api/v1/sandboxes/{_seg(sandbox)}/traces", _model(TracePublic), json=body)


def get_trace(sandbox: str, trace_id: str) -> Call[TracePublic]:
    return Call(
        "GET",
        f"/api/v1/sandboxes/{_seg(sandbox)}/traces/{_seg(trace_id)}",
        _model(TracePublic),
    )


def list_traces(sandbox: str, *, limit: int | None = None) -> Call[TraceList]:
    return Call(
        "GET",
        f"/api/v1/sandboxes/{_seg(sandbox)}/traces",
        _model(TraceList),
        params=_drop_none({"limit": limit}),
    )


# The agent protocol (cluster token)

#: Extra seconds a long-poll's HTTP timeout allows beyond the wait it asks for.
LONG_POLL_SLACK = 10.0


def assignments(since: int, *, wait: float, features: Sequence[str] = ()) -> Call[AssignmentBatch]:
    """`features`: what this agent understands beyond v1's first fields (`FEATURE_TRACES`)."""
    params: dict[str, Any] = {"since": since, "wait": wait}
    if features:
        params["features"] = list(features)
    return Call(
        "GET",
        ASSIGNMENTS_PATH,
        _protocol_model(AssignmentBatch),
        params=params,
        timeout=wait + LONG_POLL_SLACK,
    )


def report_status(batch: StatusReportBatch) -> Call[StatusAck]:
    return Call(
        "POST",
        STATUS_PATH,
        _protocol_model(StatusAck),
        json=batch.model_dump(mode="json", by_alias=True),
    )


def report_trace(report: TraceReport) -> Call[TraceAck]:
    return Call(
        "POST",
        TRACES_PATH,
        _protocol_model(TraceAck),
        json=report.model_dump(mode="json", by_alias=True),
    )
