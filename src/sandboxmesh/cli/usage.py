"""`sandboxmesh usage`: metered sandbox-hours per team and month."""

from __future__ import annotations

from enum import StrEnum

import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.output import Format, emit, field, wire
from sandboxmesh.client import endpoints


class UsageFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"
    CSV = "csv"


COLUMNS = [
    ("team", field("team")),
    ("sandboxes", field("sandboxes")),
    ("sandbox hours", field("sandboxHours")),
]


def usage(
    team: str | None = typer.Option(None, "--team"),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (UTC); this month by default."),
    output: UsageFormat = typer.Option(
        UsageFormat.TABLE, "--output", "-o", help="table, json, yaml or csv."
    ),
) -> None:
    """The usage statement: sandbox-hours per team for one month."""
    with session.client() as client:
        if output is UsageFormat.CSV:
            typer.echo(client.send(endpoints.usage_csv(month=month, team=team)), nl=False)
            return
        statement = client.send(endpoints.usage(month=month, team=team))
    if output is UsageFormat.TABLE:
        typer.echo(
            f"{statement.organization} {statement.month}: "
            f"{statement.total_sandbox_hours} sandbox-hours",
            err=True,
        )
        emit({"items": [wire(team) for team in statement.teams]}, Format.TABLE, COLUMNS)
        return
    emit(statement, Format(output.value))
