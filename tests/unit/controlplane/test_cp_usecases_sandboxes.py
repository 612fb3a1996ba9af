"""The sandbox use cases (usecases.sandboxes) over a recording stand-in for the repository:
which refusal comes first, that nothing is written before, and that a create is counted only
once its unit of work committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.unit.controlplane.usecase_fakes import (
    NOW,
    PAY,
    STAGING,
    FakeScope,
    Recorder,
    principal,
)

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.controlplane.repository.records import Principal, Sandbox
from sandboxmesh.controlplane.repository.sandbox_statements import Target
from sandboxmesh.controlplane.usecases import sandboxes
from sandboxmesh.spec import SandboxManifest

# --- sandboxes -------------------------------------------------------------------------------


def _manifest(team: str | None = "pay", cluster: str = "staging") -> SandboxManifest:
    spec: dict[str, Any] = {
        "cluster": cluster,
        "forks": [{"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"}}],
    }
    if team is not None:
        spec["team"] = team
    return SandboxManifest.model_validate({"name": "pr-1", "spec": spec})


def _sandbox(team: str = "pay") -> Sandbox:
    return Sandbox(
        name="pr-1",
        team=team,
        cluster="staging",
        spec={},
        generation=1,
        routing_key="k" * 16,
        status=None,
        observed_generation=None,
        phase="Pending",
        deleting=False,
        deletion_requested_at=None,
        created_by="member:x",
        created_at=NOW,
        updated_at=NOW,
        expires_at=None,
    )


def _applying(
    who: Principal, target: Target, *, created: bool = True
) -> tuple[FakeScope, Callable[..., Awaitable[sandboxes.Applied]]]:
    scope = FakeScope(who, sandboxes=Recorder(target=target, apply=(_sandbox(), created)))

    async def apply(manifest: SandboxManifest, **kwargs: Any) -> sandboxes.Applied:
        return await sandboxes.apply_sandbox(scope.org, manifest, metrics=Metrics(), **kwargs)

    return scope, apply


MEMBER_OF_PAY = principal(Role.MEMBER, teams_=frozenset({PAY.id}), default=PAY.id)
MEMBER_ELSEWHERE = principal(Role.MEMBER, teams_=frozenset({99}), default=99)


async def test_no_default_team_is_refused_before_any_read() -> None:
    scope, apply = _applying(principal(Role.ADMIN), Target(PAY, STAGING, exists=False))
    with pytest.raises(errors.Invalid) as refused:
        await apply(_manifest(team=None))
    assert refused.value.message == (
        "body.spec.team: you have no default team: name one in spec.team"
    )
    assert scope.calls() == []


@pytest.mark.parametrize(
    ("who", "target", "refusal", "message"),
    [
        (MEMBER_OF_PAY, Target(None, None, False), errors.Invalid, "body.spec.team: no team"),
        # The permission comes before the cluster: nothing is told about the clusters through
        # a team that is not the caller's.
        (MEMBER_ELSEWHERE, Target(PAY, None, False), errors.Forbidden, "you may not change"),
        (principal(Role.VIEWER), Target(PAY, STAGING, True), errors.Forbidden, "you may not"),
        (MEMBER_OF_PAY, Target(PAY, None, False), errors.Invalid, "body.spec.cluster: no cluster"),
    ],
)
async def test_an_apply_is_refused_in_order_before_anything_is_written(
    who: Principal, target: Target, refusal: type[errors.ApiError], message: str
) -> None:
    scope, apply = _applying(who, target)
    with pytest.raises(refusal) as refused:
        await apply(_manifest())
    assert refused.value.message.startswith(message)
    assert scope.calls() == ["sandboxes.target"]


async def test_a_create_only_apply_refuses_a_taken_name_and_an_apply_updates_it() -> None:
    scope, apply = _applying(MEMBER_OF_PAY, Target(PAY, STAGING, exists=True), created=False)
    with pytest.raises(errors.Conflict, match="a sandbox named 'pr-1' already exists"):
        await apply(_manifest(), create_only=True)
    assert scope.calls() == ["sandboxes.target"]
    applied = await apply(_manifest())
    assert not applied.created
    assert scope.calls()[-1] == "sandboxes.apply"


def _created(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("sandboxmesh_sandboxes_created_total")


async def test_a_create_is_counted_once_its_unit_of_work_committed_and_an_update_never() -> None:
    metrics = Metrics()
    created = FakeScope(
        MEMBER_OF_PAY,
        sandboxes=Recorder(target=Target(PAY, STAGING, False), apply=(_sandbox(), True)),
    )
    assert (await sandboxes.apply_sandbox(created.org, _manifest(), metrics=metrics)).created
    assert _created(metrics) == 0  # not before the commit
    created.tx.commit()
    assert _created(metrics) == 1
    updated = FakeScope(
        MEMBER_OF_PAY,
        sandboxes=Recorder(target=Target(PAY, STAGING, True), apply=(_sandbox(), False)),
    )
    await sandboxes.apply_sandbox(updated.org, _manifest(), metrics=metrics)
    updated.tx.commit()
    assert _created(metrics) == 1


@pytest.mark.parametrize(
    ("who", "deleted"),
    [(MEMBER_OF_PAY, True), (MEMBER_ELSEWHERE, False), (principal(Role.ADMIN), True)],
)
async def test_a_sandbox_is_deleted_only_by_who_may_write_its_team(
    who: Principal, deleted: bool
) -> None:
    scope = FakeScope(
        who,
        sandboxes=Recorder(get=_sandbox(), delete=_sandbox()),
        teams=Recorder(get=PAY),
    )
    if deleted:
        await sandboxes.delete_sandbox(scope.org, "pr-1")
    else:
        with pytest.raises(errors.Forbidden, match="you may not change the sandboxes of team"):
            await sandboxes.delete_sandbox(scope.org, "pr-1")
    assert ("sandboxes.delete" in scope.calls()) is deleted
