"""What the signed-in member may do, for the pages to show only what a role can use.

Every answer here is a predicate of `domain.roles`, the same the use cases enforce on every
request (through `usecases.authorization`): a page that hides a button is a courtesy, never
the check.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandboxmesh.controlplane.domain import roles
from sandboxmesh.controlplane.domain.roles import Role


@dataclass(frozen=True)
class Abilities:
    role: Role
    team_names: frozenset[str]

    @property
    def manage(self) -> bool:
        """Teams, members, quotas, clusters and the audit log."""
        return roles.manages_organization(self.role)

    @property
    def owner(self) -> bool:
        """Choose the organisation's plan."""
        return roles.may_change_plan(self.role)

    @property
    def create_sandboxes(self) -> bool:
        """In some team: the portal offers the form only then."""
        return roles.may_create_sandboxes(self.role, has_team=bool(self.team_names))

    def write_sandboxes(self, team: str) -> bool:
        return roles.may_write_sandboxes(self.role, in_team=team in self.team_names)

    def grantable(self) -> list[Role]:
        return [role for role in Role if roles.may_grant(self.role, role)]

    def change_member(self, role: Role) -> bool:
        """Change, remove or revoke the tokens of a member who has `role`."""
        return roles.may_change_member(self.role, role)

    def sandbox_teams(self, all_teams: list[str]) -> list[str]:
        """The teams whose sandboxes the member may create."""
        return [team for team in all_teams if self.write_sandboxes(team)]
