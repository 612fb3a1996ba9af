"""`sandboxmesh webhook secret rotate|get|delete`: the organisation's GitHub webhook secret,
which signs the pull-request deliveries that delete closed pull requests' sandboxes
(docs/policy.md)."""

from __future__ import annotations

import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.output import Format, OutputOption, emit, field
from sandboxmesh.client import endpoints

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Webhooks (GitHub).")
secret_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The GitHub webhook secret (admins)."
)
app.add_typer(secret_app, name="secret")

COLUMNS = [
    ("prefix", field("prefix")),
    ("created by", field("createdBy")),
    ("created", field("createdAt")),
]


@secret_app.command("rotate")
def rotate(output: Format = OutputOption) -> None:
    """Make a new secret (the old one stops verifying at once); prints it once, with the
    payload URL to give GitHub."""
    with session.client() as client:
        made = client.send(endpoints.rotate_webhook_secret())
    if output is Format.TABLE:
        typer.echo(f"payload URL:  {made.url}")
        typer.echo("content type: application/json")
        typer.echo("events:       pull requests")
        typer.echo("secret (shown once):")
        typer.echo(made.value)
        return
    emit(made, output)


@secret_app.command("get")
def get(output: Format = OutputOption) -> None:
    """The secret's prefix and age (never the secret)."""
    with session.client() as client:
        emit(client.send(endpoints.webhook_secret()), output, COLUMNS)


@secret_app.command("delete")
def delete() -> None:
    """Remove the secret: every delivery is refused until a new one is made."""
    with session.client() as client:
        client.send(endpoints.delete_webhook_secret())
    typer.echo("webhook secret deleted", err=True)
