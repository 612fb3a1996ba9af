"""`sandboxmesh cluster ...`: register clusters and manage their agents' tokens."""

from __future__ import annotations

import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.output import Format, OutputOption, emit, field, wire
from sandboxmesh.client import endpoints
from sandboxmesh.spec.install import AGENT_NAMESPACE, AGENT_TOKEN_SECRET, install_command

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Clusters and their agents.")
token_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Agent tokens.")
app.add_typer(token_app, name="token")

# How to install the chart is said once, in sandboxmesh.spec.install (the portal shows it too).
__all__ = ["AGENT_NAMESPACE", "AGENT_TOKEN_SECRET", "app", "install_command"]

COLUMNS = [
    ("name", field("name")),
    ("connection", field("connection")),
    ("last seen", field("lastSeenAt")),
    ("agent", field("agentVersion")),
    ("created", field("createdAt")),
]
TOKEN_COLUMNS = [
    ("prefix", field("prefix")),
    ("created", field("createdAt")),
    ("valid until", field("expiresAt")),
    ("revoked", field("revokedAt")),
]


@app.command("register")
def register(name: str, output: Format = OutputOption) -> None:
    """Register a cluster; prints its agent token once and how to install the agent."""
    credentials = session.load()
    with session.client(credentials) as client:
        registered = client.send(endpoints.register_cluster(name))
    if output is not Format.TABLE:
        emit(registered, output)
        return
    typer.echo(f"cluster {name} registered.")
    typer.echo("agent token (shown once, store it now):")
    typer.echo(registered.token)
    typer.echo("\ninstall the agent in the cluster:")
    typer.echo(install_command(credentials.url, registered.token))


@app.command("list")
def list_(output: Format = OutputOption) -> None:
    with session.client() as client:
        emit(client.send(endpoints.list_clusters()), output, COLUMNS)


@app.command("get")
def get(name: str, output: Format = OutputOption) -> None:
    with session.client() as client:
        emit(client.send(endpoints.get_cluster(name)), output, COLUMNS)


@app.command("delete")
def delete(name: str) -> None:
    with session.client() as client:
        client.send(endpoints.delete_cluster(name))
    typer.echo(f"cluster {name} deleted", err=True)


@token_app.command("list")
def token_list(cluster: str, output: Format = OutputOption) -> None:
    with session.client() as client:
        emit(client.send(endpoints.list_cluster_tokens(cluster)), output, TOKEN_COLUMNS)


@token_app.command("rotate")
def token_rotate(
    cluster: str,
    grace_seconds: int | None = typer.Option(
        None, "--grace-seconds", min=0, help="How long the current token keeps working."
    ),
    output: Format = OutputOption,
) -> None:
    """A new agent token; the current one keeps working for the grace period."""
    with session.client() as client:
        rotated = client.send(endpoints.rotate_cluster_token(cluster, grace_seconds=grace_seconds))
    if output is not Format.TABLE:
        emit(rotated, output)
        return
    typer.echo(
        "new agent token (shown once); the old one works until "
        f"{wire(rotated)['previousValidUntil']}:"
    )
    typer.echo(rotated.token)


@token_app.command("revoke")
def token_revoke(
    cluster: str,
    prefix: str | None = typer.Option(None, "--prefix", help="Only this token; all by default."),
) -> None:
    """Revoke agent tokens: refused from the next request on."""
    with session.client() as client:
        client.send(endpoints.revoke_cluster_tokens(cluster, prefix=prefix))
    typer.echo(f"revoked {prefix or 'every token'} of cluster {cluster}", err=True)
