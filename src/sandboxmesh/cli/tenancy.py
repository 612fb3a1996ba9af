"""`sandboxmesh team|member|token|quota ...`: teams, members, API tokens and limits."""

from __future__ import annotations

import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.errors import CliError
from sandboxmesh.cli.output import Format, OutputOption, emit, field, wire
from sandboxmesh.client import endpoints
from sandboxmesh.spec.api import OrganizationPublic, TeamPublic

team_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Teams.")
member_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Members.")
token_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Your API tokens.")
quota_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Limits on concurrent sandboxes."
)

TEAM_COLUMNS = [
    ("name", field("name")),
    ("max sandboxes", field("maxSandboxes")),
    ("active", field("activeSandboxes")),
    ("created", field("createdAt")),
]
MEMBER_COLUMNS = [
    ("email", field("email")),
    ("role", field("role")),
    ("teams", field("teams")),
    ("status", field("status")),
    ("default team", field("defaultTeam")),
]
TOKEN_COLUMNS = [
    ("prefix", field("prefix")),
    ("name", field("name")),
    ("member", field("member")),
    ("expires", field("expiresAt")),
    ("revoked", field("revokedAt")),
    ("last used", field("lastUsedAt")),
]


@team_app.command("create")
def team_create(
    name: str,
    max_sandboxes: int | None = typer.Option(None, "--max-sandboxes", min=0),
    output: Format = OutputOption,
) -> None:
    with session.client() as client:
        emit(
            client.send(endpoints.create_team(name, max_sandboxes=max_sandboxes)),
            output,
            TEAM_COLUMNS,
        )


@team_app.command("list")
def team_list(output: Format = OutputOption) -> None:
    with session.client() as client:
        emit(client.send(endpoints.list_teams()), output, TEAM_COLUMNS)


@team_app.command("get")
def team_get(name: str, output: Format = OutputOption) -> None:
    with session.client() as client:
        emit(client.send(endpoints.get_team(name)), output, TEAM_COLUMNS)


@team_app.command("delete")
def team_delete(name: str) -> None:
    with session.client() as client:
        client.send(endpoints.delete_team(name))
    typer.echo(f"team {name} deleted", err=True)


@member_app.command("add")
def member_add(
    email: str,
    role: str = typer.Option("member", "--role", help="owner, admin, member or viewer."),
    team: list[str] = typer.Option([], "--team", help="A team to join (repeatable)."),
    output: Format = OutputOption,
) -> None:
    """Invite a member: pending until they accept the invitation mailed to them. Without a
    mail server on the control plane, prints the invitation link once, to pass on."""
    with session.client() as client:
        added = client.send(endpoints.add_member(email, role=role, teams=team))
    if output is Format.TABLE:
        emit(added.member, output, MEMBER_COLUMNS)
        invitation = added.invitation
        # The time as the API writes it, as `-o json` would print it.
        expires = wire(invitation)["expiresAt"]
        if invitation.mailed:
            typer.echo(f"invitation mailed to {email} (expires {expires})")
        else:
            typer.echo(
                f"no mail was sent: pass this invitation link on to {email} (shown once; "
                f"only that address can accept it, until {expires}):"
            )
            typer.echo(invitation.link)
        return
    emit(added, output)


@member_app.command("list")
def member_list(output: Format = OutputOption) -> None:
    with session.client() as client:
        emit(client.send(endpoints.list_members()), output, MEMBER_COLUMNS)


@member_app.command("set")
def member_set(
    email: str,
    role: str | None = typer.Option(None, "--role"),
    team: list[str] = typer.Option([], "--team", help="Replace the member's teams."),
    output: Format = OutputOption,
) -> None:
    """Change a member's role or teams."""
    with session.client() as client:
        updated = client.send(endpoints.update_member(email, role=role, teams=team or None))
    emit(updated, output, MEMBER_COLUMNS)


@member_app.command("remove")
def member_remove(email: str) -> None:
    with session.client() as client:
        client.send(endpoints.remove_member(email))
    typer.echo(f"member {email} removed", err=True)


@token_app.command("create")
def token_create(
    name: str,
    expires_in_days: int | None = typer.Option(None, "--expires-in-days", min=1, max=3650),
    output: Format = OutputOption,
) -> None:
    """A new API token for yourself, printed once."""
    with session.client() as client:
        created = client.send(endpoints.create_token(name, expires_in_days=expires_in_days))
    if output is Format.TABLE:
        typer.echo(created.secret)
        return
    emit(created, output)


@token_app.command("list")
def token_list(
    everyone: bool = typer.Option(False, "--all", help="Every member's (admins)."),
    output: Format = OutputOption,
) -> None:
    with session.client() as client:
        emit(client.send(endpoints.list_tokens(everyone=everyone)), output, TOKEN_COLUMNS)


@token_app.command("revoke")
def token_revoke(prefix: str) -> None:
    with session.client() as client:
        client.send(endpoints.revoke_token(prefix))
    typer.echo(f"token {prefix} revoked", err=True)


QUOTA_COLUMNS = [
    ("scope", field("scope")),
    ("name", field("name")),
    ("max sandboxes", field("maxSandboxes")),
    ("active", field("activeSandboxes")),
]


def _quota_row(scope: str, found: OrganizationPublic | TeamPublic) -> dict[str, object]:
    """An organisation shows the limit in force (its plan's when it set none); a team its own."""
    limit = (
        found.effective_max_sandboxes
        if isinstance(found, OrganizationPublic)
        else found.max_sandboxes
    )
    return {
        "scope": scope,
        "name": found.name,
        "maxSandboxes": limit,
        "activeSandboxes": found.active_sandboxes,
    }


def _target(team: str | None, org: bool) -> str | None:
    if (team is None) == (not org):
        raise CliError("name exactly one of --team T or --org")
    return team


@quota_app.command("get")
def quota_get(
    team: str | None = typer.Option(None, "--team"),
    org: bool = typer.Option(False, "--org", help="The organisation's limit."),
    output: Format = OutputOption,
) -> None:
    chosen = _target(team, org)
    with session.client() as client:
        if chosen is None:
            row = _quota_row("organization", client.send(endpoints.organization()))
        else:
            row = _quota_row("team", client.send(endpoints.get_team(chosen)))
    emit(row, output, QUOTA_COLUMNS)


@quota_app.command("set")
def quota_set(
    max_sandboxes: int = typer.Option(..., "--max-sandboxes", min=0, help="The new limit."),
    team: str | None = typer.Option(None, "--team"),
    org: bool = typer.Option(False, "--org", help="The organisation's limit."),
    output: Format = OutputOption,
) -> None:
    chosen = _target(team, org)
    with session.client() as client:
        if chosen is None:
            row = _quota_row(
                "organization", client.send(endpoints.set_organization_quota(max_sandboxes))
            )
        else:
            row = _quota_row("team", client.send(endpoints.set_team_quota(chosen, max_sandboxes)))
    emit(row, output, QUOTA_COLUMNS)
