"""The `sandboxmesh` command (DESIGN.md §5)."""

from __future__ import annotations

import typer

from sandboxmesh import __version__
from sandboxmesh.cli import demo, dev, route_server
from sandboxmesh.cli import operator as operator_command

app = typer.Typer(
    no_args_is_help=True,
    help="SandboxMesh: preview environments for Kubernetes.",
    pretty_exceptions_enable=False,
    # Plain click error output: our CliError prints one line of its own.
    rich_markup_mode=None,
)
app.add_typer(dev.app, name="dev")
app.command("demo")(demo.demo)
app.command("operator")(operator_command.run)
app.command("route-server")(route_server.run)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app(prog_name="sandboxmesh")
