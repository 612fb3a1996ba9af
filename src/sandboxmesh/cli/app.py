"""The `sandboxmesh` command (DESIGN.md §5)."""

from __future__ import annotations

import typer

from sandboxmesh import __version__
from sandboxmesh.cli import (
    admin,
    cluster,
    login,
    policy,
    route,
    route_server,
    routegroup,
    sandbox,
    server,
    tenancy,
    webhook,
)
from sandboxmesh.cli import agent as agent_command
from sandboxmesh.cli import operator as operator_command
from sandboxmesh.cli import usage as usage_command

# The development wing's commands: the one import of the wing that the product allows
# (pyproject.toml's import contracts).
from sandboxmesh.dev import commands as dev_commands

app = typer.Typer(
    no_args_is_help=True,
    help="SandboxMesh: preview environments for Kubernetes.",
    pretty_exceptions_enable=False,
    # Plain click error output: our CliError prints one line of its own.
    rich_markup_mode=None,
)
app.add_typer(dev_commands.app, name="dev")
app.command("demo")(dev_commands.demo)
app.command("agent")(agent_command.run)
app.command("operator")(operator_command.run)
app.command("route-server")(route_server.run)
# The control plane and its clients.
app.command("server")(server.server)
app.add_typer(server.db_app, name="db")
app.add_typer(admin.app, name="admin")
app.command("login")(login.login)
app.add_typer(tenancy.team_app, name="team")
app.add_typer(tenancy.member_app, name="member")
app.add_typer(tenancy.token_app, name="token")
app.add_typer(tenancy.quota_app, name="quota")
app.add_typer(policy.app, name="policy")
app.add_typer(webhook.app, name="webhook")
app.add_typer(cluster.app, name="cluster")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(routegroup.app, name="routegroup")
app.command("usage")(usage_command.usage)
app.add_typer(route.app, name="route")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app(prog_name="sandboxmesh")
