"""A recording stand-in for the repository, to run the use cases (controlplane/usecases)
without a store: every call is recorded, every answer is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.records import Cluster, Member, Principal, Team
from sandboxmesh.controlplane.repository.scope import OrgScope

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
PAY = Team(id=7, name="pay", max_sandboxes=None, active_sandboxes=0, created_at=NOW)
STAGING = Cluster(
    id=3, name="staging", revision=1, last_seen_at=None, agent_version=None, created_at=NOW
)


class Recorder:
    """A repository stand-in: every method records its call and answers from `answers` (a
    value, or a function of the call's arguments)."""

    def __init__(self, **answers: object) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __getattr__(self, method: str) -> Callable[..., Awaitable[object]]:
        async def call(*args: object, **kwargs: object) -> object:
            self.calls.append(method)
            answer = self.answers.get(method)
            return answer(*args, **kwargs) if callable(answer) else answer

        return call


class FakeTx:
    def __init__(self) -> None:
        self.now = NOW
        self.callbacks: list[Callable[[], object]] = []

    def after_commit(self, callback: Callable[[], object]) -> None:
        self.callbacks.append(callback)

    def commit(self) -> None:
        for callback in self.callbacks:
            callback()


class FakeScope:
    REPOSITORIES = (
        "organization",
        "teams",
        "members",
        "tokens",
        "clusters",
        "sandboxes",
        "usage",
        "audit",
        "invitations",
    )

    def __init__(self, principal: Principal, **repositories: Recorder) -> None:
        self.principal = principal
        self.tx = FakeTx()
        for name in self.REPOSITORIES:
            setattr(self, name, repositories.get(name, Recorder()))

    def calls(self) -> list[str]:
        return [
            f"{name}.{call}"
            for name in self.REPOSITORIES
            for call in cast(Recorder, getattr(self, name)).calls
        ]

    @property
    def org(self) -> OrgScope:
        return cast(OrgScope, self)


def principal(
    role: Role, *, teams_: frozenset[int] = frozenset(), default: int | None = None
) -> Principal:
    return Principal(
        member_id=11,
        email=f"{role.value}@acme.example",
        role=role,
        org_id=1,
        org_name="acme",
        token_id=None,
        team_ids=teams_,
        default_team_id=default,
    )


BOB = Member(
    id=12,
    email="bob@acme.example",
    role=Role.MEMBER,
    default_team=None,
    teams=(),
    created_at=NOW,
)
