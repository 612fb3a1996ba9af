"""`sandboxmesh policy get|set [--team T]`: the lifetime policy of the organisation or a team
(docs/policy.md)."""

from __future__ import annotations

from typing import Any

import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.errors import CliError
from sandboxmesh.cli.output import Format, OutputOption, emit, field, wire
from sandboxmesh.client import endpoints
from sandboxmesh.spec.api import LifetimePolicyPublic

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Lifetime policies: default and maximum TTL, default idle time, sandboxes per member.",
)

#: The policy's values as the API names them.
_VALUES = ("defaultTtl", "maxTtl", "defaultIdle", "maxSandboxesPerMember")

COLUMNS = [
    ("scope", field("scope")),
    ("name", field("name")),
    ("default ttl", field("defaultTtl")),
    ("max ttl", field("maxTtl")),
    ("default idle", field("defaultIdle")),
    ("max per member", field("maxSandboxesPerMember")),
]

TeamOption = typer.Option(None, "--team", help="A team's policy (else the organisation's).")
_CLEAR = "none"


def _show(policy: LifetimePolicyPublic, output: Format) -> None:
    """json and yaml: the API's body. table: the scope's own values, then those in force."""
    if output is not Format.TABLE:
        emit(policy, output)
        return
    body = wire(policy)
    own = {"scope": body["scope"], "name": body["name"], **{k: body[k] for k in _VALUES}}
    in_force = {"scope": "in force", "name": body["name"], **body["effective"]}
    emit({"items": [own, in_force]}, output, COLUMNS)


@app.command("get")
def policy_get(team: str | None = TeamOption, output: Format = OutputOption) -> None:
    """Show a policy: what its scope set, and what applies to its sandboxes."""
    with session.client() as client:
        _show(client.send(endpoints.get_policy(team=team)), output)


def _member_limit(text: str) -> int | None:
    if text == _CLEAR:
        return None
    try:
        value = int(text)
    except ValueError:
        raise CliError(
            f"--max-sandboxes-per-member: {text!r} is not a number (or {_CLEAR})"
        ) from None
    if value < 0:
        raise CliError("--max-sandboxes-per-member: must be 0 or more")
    return value


@app.command("set")
def policy_set(
    team: str | None = TeamOption,
    default_ttl: str | None = typer.Option(
        None, "--default-ttl", help="The TTL of a sandbox without one (e.g. 4h); none: unset."
    ),
    max_ttl: str | None = typer.Option(
        None, "--max-ttl", help="The longest TTL a sandbox may have (e.g. 1d); none: unset."
    ),
    default_idle: str | None = typer.Option(
        None, "--default-idle", help="Idle time before a sandbox sleeps (e.g. 30m); none: unset."
    ),
    max_per_member: str | None = typer.Option(
        None, "--max-sandboxes-per-member", help="Live sandboxes one member may hold; none: unset."
    ),
    output: Format = OutputOption,
) -> None:
    """Change the values given (admins and owners); the others stay as they are. A team's
    policy may only narrow the organisation's."""
    changes: dict[str, Any] = {}
    for name, text in (
        ("defaultTtl", default_ttl),
        ("maxTtl", max_ttl),
        ("defaultIdle", default_idle),
    ):
        if text is not None:
            changes[name] = None if text == _CLEAR else text
    if max_per_member is not None:
        changes["maxSandboxesPerMember"] = _member_limit(max_per_member)
    if not changes:
        raise CliError(
            "give at least one of --default-ttl, --max-ttl, --default-idle, "
            "--max-sandboxes-per-member"
        )
    with session.client() as client:
        current = wire(client.send(endpoints.get_policy(team=team)))
        policy = {name: current[name] for name in _VALUES} | changes
        _show(client.send(endpoints.set_policy(policy, team=team)), output)
