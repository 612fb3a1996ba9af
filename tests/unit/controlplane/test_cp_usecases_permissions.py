"""The use cases (controlplane/usecases) over a recording stand-in for the repository: who is
refused, with which words, before anything is read or written; and that the portal's
abilities answer exactly as the use cases decide."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from tests.unit.controlplane.usecase_fakes import (
    BOB,
    NOW,
    PAY,
    STAGING,
    FakeScope,
    Recorder,
    principal,
)

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.portal.abilities import Abilities
from sandboxmesh.controlplane.repository.records import ApiToken
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.settings import AgentSettings
from sandboxmesh.controlplane.usecases import (
    authorization,
    clusters,
    members,
    organization,
    teams,
    tokens,
)

# --- what only those who manage the organisation do ------------------------------------------

UseCase = Callable[[OrgScope], Awaitable[object]]
#: Each use case, and the repository call that does its work.
MANAGING: dict[str, tuple[UseCase, str]] = {
    "register a cluster": (
        lambda org: clusters.register_cluster(org, "staging"),
        "clusters.register",
    ),
    "delete a cluster": (lambda org: clusters.delete_cluster(org, "staging"), "clusters.delete"),
    "see a cluster's tokens": (
        lambda org: clusters.cluster_tokens(org, "staging"),
        "clusters.tokens",
    ),
    "rotate a cluster's token": (
        lambda org: clusters.rotate_token(org, "staging", agent=AgentSettings()),
        "clusters.rotate",
    ),
    "revoke a cluster's tokens": (
        lambda org: clusters.revoke_tokens(org, "staging", prefix=None),
        "clusters.revoke",
    ),
    "create a team": (lambda org: teams.create_team(org, "pay"), "teams.create"),
    "delete a team": (lambda org: teams.delete_team(org, "pay"), "teams.delete"),
    "set a team's limit": (lambda org: teams.set_team_limit(org, "pay", 3), "teams.set_limit"),
    "set the organisation's limit": (
        lambda org: organization.set_organization_limit(org, 3),
        "organization.set_limit",
    ),
    "read the audit log": (lambda org: organization.audit_events(org), "audit.events"),
    "list everyone's tokens": (
        lambda org: tokens.list_tokens(org, everyone=True),
        "tokens.all",
    ),
    "create an invitation link": (
        lambda org: members.invite_by_link(
            org, role=Role.MEMBER, team=None, ttl=timedelta(hours=1)
        ),
        "invitations.create",
    ),
    "revoke an invitation": (
        lambda org: members.revoke_invitation(org, "smi_1"),
        "invitations.revoke",
    ),
    "change a member": (
        lambda org: members.change_member(org, "bob@acme.example", role=None, teams=["pay"]),
        "members.update",
    ),
    "remove a member": (
        lambda org: members.remove_member(org, "bob@acme.example"),
        "members.remove",
    ),
}


@pytest.mark.parametrize("use_case", list(MANAGING))
@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
async def test_members_and_viewers_are_refused_before_anything_is_read(
    use_case: str, role: Role
) -> None:
    scope = FakeScope(principal(role))
    run, _ = MANAGING[use_case]
    with pytest.raises(errors.Forbidden) as refused:
        await run(scope.org)
    assert refused.value.message == f"this needs the admin role; you are {role.value}"
    assert refused.value.details == {"needed": "admin", "role": role.value}
    assert scope.calls() == []


@pytest.mark.parametrize("use_case", list(MANAGING))
@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
async def test_admins_and_owners_reach_the_repository(use_case: str, role: Role) -> None:
    scope = FakeScope(
        principal(role),
        clusters=Recorder(register=(STAGING, None)),
        members=Recorder(get=BOB),
    )
    run, does_the_work = MANAGING[use_case]
    await run(scope.org)
    assert does_the_work in scope.calls()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
async def test_only_owners_change_the_plan(role: Role) -> None:
    scope = FakeScope(principal(role))
    with pytest.raises(errors.Forbidden) as refused:
        await organization.set_plan(scope.org, Plan.ENTERPRISE)
    assert refused.value.message == f"this needs the owner role; you are {role.value}"
    assert scope.calls() == []
    owner = FakeScope(principal(Role.OWNER))
    await organization.set_plan(owner.org, Plan.ENTERPRISE)
    assert owner.calls() == ["organization.set_plan"]


async def test_an_admin_cannot_make_an_invitation_link_for_owners() -> None:
    scope = FakeScope(principal(Role.ADMIN))
    with pytest.raises(errors.Forbidden, match="a admin cannot grant the owner role"):
        await members.invite_by_link(scope.org, role=Role.OWNER, team=None, ttl=timedelta(1))
    assert scope.calls() == []


async def test_a_rotation_keeps_the_old_tokens_for_the_configured_grace_unless_told() -> None:
    scope = FakeScope(principal(Role.ADMIN), clusters=Recorder(rotate="issued"))
    default = await clusters.rotate_token(
        scope.org, "staging", agent=AgentSettings(rotation_grace_seconds=600)
    )
    assert (default.grace, default.previous_valid_until) == (
        timedelta(minutes=10),
        NOW + timedelta(minutes=10),
    )
    told = await clusters.rotate_token(
        scope.org, "staging", agent=AgentSettings(), grace=timedelta(0)
    )
    assert told.previous_valid_until == NOW


# --- tokens ----------------------------------------------------------------------------------


def _token(owner: Role, email: str) -> ApiToken:
    return ApiToken(
        id=1,
        name="ci",
        prefix="smu_1",
        member_email=email,
        member_role=owner,
        created_at=NOW,
        expires_at=NOW,
        revoked_at=None,
        last_used_at=None,
    )


async def test_a_member_lists_their_own_tokens() -> None:
    seen: list[object] = []
    scope = FakeScope(
        principal(Role.MEMBER), tokens=Recorder(all=lambda **kw: seen.append(kw["member_id"]))
    )
    await tokens.list_tokens(scope.org, everyone=False)
    assert seen == [11]


async def test_another_members_token_is_not_even_found_by_a_member() -> None:
    scope = FakeScope(
        principal(Role.MEMBER), tokens=Recorder(find=_token(Role.MEMBER, "bob@acme.example"))
    )
    with pytest.raises(errors.NotFound):
        await tokens.revoke_token(scope.org, "smu_1")
    assert scope.calls() == ["tokens.find"]


async def test_only_owners_revoke_an_owners_token() -> None:
    owners_token = _token(Role.OWNER, "olga@acme.example")
    admin = FakeScope(principal(Role.ADMIN), tokens=Recorder(find=owners_token))
    with pytest.raises(
        errors.Forbidden, match=re.escape("only owners may change olga@acme.example")
    ):
        await tokens.revoke_token(admin.org, "smu_1")
    assert admin.calls() == ["tokens.find"]
    owner = FakeScope(principal(Role.OWNER), tokens=Recorder(find=owners_token))
    await tokens.revoke_token(owner.org, "smu_1")
    assert owner.calls() == ["tokens.find", "tokens.revoke"]


# --- the portal shows what the use cases allow ------------------------------------------------


def _allowed(check: Callable[[], None]) -> bool:
    try:
        check()
    except errors.Forbidden:
        return False
    return True


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("in_team", [True, False])
def test_the_portal_offers_exactly_what_the_use_cases_allow(role: Role, in_team: bool) -> None:
    who = principal(role, teams_=frozenset({PAY.id}) if in_team else frozenset())
    can = Abilities(role, frozenset({"pay"}) if in_team else frozenset())
    assert can.manage is _allowed(lambda: authorization.require_manage(who))
    assert can.owner is _allowed(lambda: authorization.require_plan_change(who))
    assert can.write_sandboxes("pay") is _allowed(
        lambda: authorization.require_sandbox_write(who, PAY)
    )
    assert can.create_sandboxes is can.write_sandboxes("pay")
    for other in Role:
        assert can.change_member(other) is _allowed(
            lambda other=other: authorization.require_change_member(who, other, "x@acme.example")
        )
        assert (other in can.grantable()) is _allowed(
            lambda other=other: authorization.require_grant(who, other)
        )
