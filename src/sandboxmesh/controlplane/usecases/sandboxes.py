"""Sandboxes: applying a manifest (create or update) and asking for a deletion.

The API (`PUT`/`DELETE /api/v1/sandboxes/{name}`) and the portal (its form, its YAML box, its
delete button) both call these, so each rule is written once: which team a manifest lands in
(the one it names, else the caller's default team), that the caller may write that team's
sandboxes (`domain.roles.may_write_sandboxes`), that the cluster is registered, what the
lifetime policy of the organisation and the team asks (`domain.lifetime_policy`: the default
TTL given, a TTL above the maximum refused, the per-member limit decided with the quotas),
and which of these is refused first.

`apply_sandbox` and `delete_sandbox` run in the caller's unit of work. A create is held for
its commit and written last (on PostgreSQL, when it is the unit of work's one write, with the
organisation's other waiting creates: repository/create_queue.py): what refuses it (a quota:
409) is then raised when the unit of work ends, after the use case returned. Whoever ends the
unit of work counts that refusal (`count_refusal`): the API's error handler, or
`apply_sandbox_alone`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import lifetime_policy
from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.controlplane.repository.records import Principal, Sandbox, StoredSandbox
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.usecases import authorization
from sandboxmesh.spec import SandboxManifest


@dataclass(frozen=True)
class Applied:
    #: A create, held for the commit, has no id or revision yet.
    sandbox: Sandbox
    created: bool


def _no_default_team() -> errors.Invalid:
    return errors.Invalid.field(
        ["body", "spec", "team"], "you have no default team: name one in spec.team"
    )


async def apply_sandbox(
    org: OrgScope, manifest: SandboxManifest, *, metrics: Metrics, create_only: bool = False
) -> Applied:
    """Create the sandbox `manifest` names, or update its spec (`create_only`: refuse, 409,
    when the name is taken). Refusals, in this order: 422 no such team (or no default team),
    403 not the caller's to write, 422 no such cluster, 422 `ttl_above_maximum` (the
    lifetime policy), 409 the name taken (`create_only`), then what the repository refuses
    (a move between teams or clusters, a sandbox being deleted, a quota, 409
    `member_sandbox_limit`). A manifest without a TTL gets the policy's default. Counts the
    create once the unit of work committed."""
    principal = org.principal
    requested_team = manifest.spec.team
    if requested_team is None and principal.default_team_id is None:
        raise _no_default_team()
    # Team, cluster and whether the name is taken: one round trip, checked in this order.
    target = await org.sandboxes.target(
        manifest.name,
        team=requested_team,
        default_team_id=principal.default_team_id,
        cluster=manifest.spec.cluster,
    )
    if target.team is None:
        if requested_team is None:
            raise _no_default_team()
        raise errors.Invalid.field(["body", "spec", "team"], f"no team {requested_team!r}")
    authorization.require_sandbox_write(principal, target.team)
    if target.cluster is None:
        raise errors.Invalid.field(
            ["body", "spec", "cluster"], f"no cluster {manifest.spec.cluster!r} is registered"
        )
    policy = lifetime_policy.effective(
        target.org_policy, principal.org_name, target.team_policy, target.team.name
    )
    under_policy = lifetime_policy.spec_under(policy, manifest.spec)
    if isinstance(under_policy, lifetime_policy.TtlAboveMaximum):
        raise _ttl_above_maximum(under_policy)
    if under_policy is not manifest.spec:
        manifest = manifest.model_copy(update={"spec": under_policy})
    if create_only and target.exists:
        raise errors.Conflict(f"a sandbox named {manifest.name!r} already exists")
    sandbox, created = await org.sandboxes.apply(
        manifest,
        team=target.team,
        cluster=target.cluster,
        exists=target.exists,
        member_limits=(
            None if policy.member_limit_org is None else policy.member_limit_org.value,
            None if policy.member_limit_team is None else policy.member_limit_team.value,
        ),
    )
    if created:
        org.tx.after_commit(metrics.sandboxes_created.inc)
    return Applied(sandbox, created)


def _ttl_above_maximum(refused: lifetime_policy.TtlAboveMaximum) -> errors.TtlAboveMaximum:
    maximum = refused.maximum
    message = refused.describe()
    return errors.TtlAboveMaximum(
        message,
        details={
            "limit": "maxTtl",
            "scope": maximum.scope.value,
            "name": maximum.name,
            "max": lifetime_policy.format_duration(maximum.value),
            "value": lifetime_policy.format_duration(refused.asked),
            "errors": [
                {"loc": ["body", "spec", "ttl", "duration"], "msg": message, "type": "value_error"}
            ],
        },
    )


async def apply_sandbox_alone(
    runtime: Runtime, principal: Principal, manifest: SandboxManifest, *, create_only: bool
) -> Applied:
    """`apply_sandbox` in a unit of work of its own, committed when this returns; a quota
    refusal is counted whether the create was refused at once or at the commit."""
    try:
        async with runtime.unit_of_work() as tx:
            return await apply_sandbox(
                OrgScope(tx, principal, creates=runtime.creates),
                manifest,
                metrics=runtime.metrics,
                create_only=create_only,
            )
    except errors.ApiError as refused:
        count_refusal(runtime.metrics, refused)
        raise


def count_refusal(metrics: Metrics, refused: errors.ApiError) -> None:
    """Count a refusal of a quota or of a lifetime policy (other errors are not counted)."""
    if isinstance(refused, errors.QuotaExceeded):
        metrics.quota_rejections.labels(refused.details.get("limit", "")).inc()
    elif isinstance(refused, errors.MemberSandboxLimit | errors.TtlAboveMaximum):
        metrics.policy_refusals.labels(refused.code).inc()


async def deletable_sandbox(org: OrgScope, name: str) -> StoredSandbox:
    """The sandbox `name`, if the caller may delete it: 404 when there is none, 403 when its
    team's sandboxes are not the caller's to write."""
    sandbox = await org.sandboxes.get(name)
    team = await org.teams.get(sandbox.team)
    authorization.require_sandbox_write(org.principal, team)
    return sandbox


async def delete_sandbox(org: OrgScope, name: str) -> StoredSandbox:
    """Ask for the deletion of `name` (the rules of `deletable_sandbox`): it stays, deleting,
    until its agent confirms it is gone."""
    await deletable_sandbox(org, name)
    return await org.sandboxes.delete(name)
