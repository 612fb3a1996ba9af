"""`sandboxmesh login`: remember the control plane's URL and an API token."""

from __future__ import annotations

import typer

from sandboxmesh.cli import session


def login(
    url: str = typer.Option(..., "--url", help="The control plane, e.g. http://127.0.0.1:8080"),
    token: str = typer.Option(..., "--token", help="An API token (smu_...)."),
    verify: bool = typer.Option(True, help="Check the token against the server first."),
) -> None:
    """Store URL and token in $SANDBOXMESH_HOME (mode 0600)."""
    credentials = session.Credentials(url=url.rstrip("/"), token=token)
    if verify:
        from sandboxmesh.client import endpoints

        with session.client(credentials) as client:
            me = client.send(endpoints.whoami())
        typer.echo(f"logged in to {me.organization} as {me.email} ({me.role})", err=True)
    path = session.save(credentials)
    typer.echo(f"credentials saved to {path}", err=True)
