"""Dependency aliases: routes declare in their signature what they need.

- `Db`: a unit of work (`Runtime.unit_of_work`), on both stores: what the request writes is
  committed together once the route returned and its response was built (FastAPI serialises
  it before a "function"-scoped dependency ends), before the response is sent; nothing of it
  when the route or its response raised. A sandbox create is held for that moment and
  written last (on PostgreSQL, when it is the request's one write, in one batch with the
  organisation's other waiting creates: repository/sandboxes.py); its refusal (409) is the
  answer then.
- `OrgScope`: the repository bound to the authenticated caller's organisation (401 otherwise),
  in a unit of work like `Db`'s; `AdminScope` the same for admins and owners only (403
  otherwise). `Principal`: the authenticated member.
- `Caller`: the authenticated member, whose transaction is over before the route runs: for
  routes that run a use case with its own unit of work (and send mail after it committed).
- `TeamScope`: the team named in the path, resolved inside the caller's organisation.
- `Agent` / `AgentScope`: an authenticated agent and the repository bound to its cluster.

Every dependency is `async def`, even the ones that never await: FastAPI runs a plain `def`
dependency in its thread pool, a thread hand-off per request for an attribute read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.repository import clusters, records, scope, tokens
from sandboxmesh.controlplane.repository.assignments import ClusterScope
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.usecases import authorization
from sandboxmesh.controlplane.web.dependencies import RuntimeDep
from sandboxmesh.controlplane.web.paths import TeamName
from sandboxmesh.spec.protocol import AGENT_VERSION_HEADER


async def _transaction(runtime: RuntimeDep) -> AsyncIterator[Tx]:
    async with runtime.unit_of_work() as tx:
        yield tx


Db = Annotated[Tx, Depends(_transaction, scope="function")]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return token.strip()


async def _org_scope(request: Request) -> AsyncIterator[scope.OrgScope]:
    # One dependency rather than a chain (runtime, transaction, principal): each step of a
    # chain costs FastAPI about as much as the step itself, on every authenticated request.
    runtime: Runtime = request.app.state.runtime
    token = bearer_token(request)  # 401 without a connection taken
    async with runtime.unit_of_work() as tx:
        principal = await tokens.authenticate(tx, token)
        if principal is None:
            raise errors.Unauthorized("invalid, expired or revoked token")
        yield scope.OrgScope(tx, principal, creates=runtime.creates)


OrgScope = Annotated[scope.OrgScope, Depends(_org_scope, scope="function")]


async def _principal(org: OrgScope) -> records.Principal:
    return org.principal


Principal = Annotated[records.Principal, Depends(_principal)]


async def _admin_scope(org: OrgScope) -> scope.OrgScope:
    authorization.require_manage(org.principal)
    return org


AdminScope = Annotated[scope.OrgScope, Depends(_admin_scope)]


async def _caller(request: Request) -> records.Principal:
    runtime: Runtime = request.app.state.runtime
    token = bearer_token(request)
    async with runtime.unit_of_work() as tx:
        principal = await tokens.authenticate(tx, token)
    if principal is None:
        raise errors.Unauthorized("invalid, expired or revoked token")
    return principal


Caller = Annotated[records.Principal, Depends(_caller)]


@dataclass(frozen=True)
class ScopedTeam:
    org: scope.OrgScope
    team: records.Team


async def _team_scope(org: OrgScope, team: TeamName) -> ScopedTeam:
    return ScopedTeam(org=org, team=await org.teams.get(team))


TeamScope = Annotated[ScopedTeam, Depends(_team_scope)]


async def agent_from_request(request: Request, tx: Tx) -> records.AgentIdentity:
    """The agent a request's cluster token opens (recording its last call), or 401."""
    version = request.headers.get(AGENT_VERSION_HEADER)
    agent = await clusters.authenticate_agent(
        tx, bearer_token(request), agent_version=version[:64] if version else None
    )
    if agent is None:
        raise errors.Unauthorized("invalid, expired or revoked cluster token")
    return agent


async def _agent(request: Request, runtime: RuntimeDep) -> records.AgentIdentity:
    # A transaction of its own: recording the call row-locks the cluster, which must not stay
    # locked (blocking creates on the cluster) while a large status batch is processed.
    async with runtime.unit_of_work() as tx:
        return await agent_from_request(request, tx)


Agent = Annotated[records.AgentIdentity, Depends(_agent)]


async def _agent_scope(agent: Agent, tx: Db) -> ClusterScope:
    # `agent` first: its transaction must be over before this one begins (on SQLite a second
    # writer in the same request would wait for the first one's lock).
    return ClusterScope(tx, agent)


AgentScope = Annotated[ClusterScope, Depends(_agent_scope)]
