"""`sandboxmesh routegroup apply|list|get|delete`: one routing key across sandboxes."""

from __future__ import annotations

from pathlib import Path

import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.output import Format, OutputOption, emit, field, wire
from sandboxmesh.cli.sandbox import load_manifest
from sandboxmesh.client import endpoints

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Route groups: one routing key across the sandboxes a label selector matches.",
)

COLUMNS = [
    ("name", field("name")),
    ("cluster", field("cluster")),
    ("selector", field("spec", "selector", "matchLabels")),
    ("routing key", field("routingKey")),
    ("members", lambda g: [m["name"] for m in g.get("members", [])]),
    ("conflicts", lambda g: [_conflict(c) for c in g.get("conflicts", [])]),
    ("expires", field("expiresAt")),
]


def _conflict(conflict: dict[str, object]) -> str:
    baseline = conflict.get("baseline")
    where = "/".join(str(v) for v in baseline.values()) if isinstance(baseline, dict) else "?"
    sandboxes = conflict.get("sandboxes")
    both = "+".join(str(s) for s in sandboxes) if isinstance(sandboxes, list) else "?"
    return f"{where}:{both}"


@app.command("apply")
def apply(
    file: Path = typer.Option(
        ..., "--file", "-f", help="The route group manifest (YAML or JSON; - for stdin)."
    ),
    output: Format = OutputOption,
) -> None:
    """Create or update a route group from its manifest."""
    document = load_manifest(file, "route group")
    with session.client() as client:
        applied = client.send(endpoints.apply_route_group(document))
    typer.echo(
        f"route group {applied.name} applied (generation {applied.generation}, "
        f"routing key {applied.routing_key})",
        err=True,
    )
    for conflict in applied.conflicts:
        typer.echo(f"conflict: {conflict.message()}", err=True)
    emit(applied, output, COLUMNS)


@app.command("list")
def list_(
    cluster: str | None = typer.Option(None, "--cluster"),
    output: Format = OutputOption,
) -> None:
    with session.client() as client:
        items = list(
            session.every(
                client, lambda after: endpoints.list_route_groups(cluster=cluster, after=after)
            )
        )
    emit({"items": [wire(group) for group in items]}, output, COLUMNS)


@app.command("get")
def get(name: str, output: Format = OutputOption) -> None:
    """Show a route group; as a table, also its members and conflicts in words."""
    with session.client() as client:
        group = client.send(endpoints.get_route_group(name))
    emit(group, output, COLUMNS)
    if output is Format.TABLE:
        lines = [
            f"member {m.name} (team {m.team}, {m.phase}) forks {', '.join(m.forks) or 'nothing'}"
            for m in group.members
        ] or ["no members: no sandbox of this cluster has the selector's labels"]
        lines += [f"conflict: {c.message()}" for c in group.conflicts]
        lines += [f"preview {u.name}: {u.url} ({u.access.value})" for u in group.preview_urls]
        typer.echo("\n" + "\n".join(lines))


@app.command("delete")
def delete(name: str) -> None:
    """Delete a route group; its key stops routing once the agent removed its object."""
    with session.client() as client:
        client.send(endpoints.delete_route_group(name))
    typer.echo(f"route group {name} deleted", err=True)
