"""`sandboxmesh sandbox apply|list|get|delete`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from sandboxmesh.cli import session
from sandboxmesh.cli.errors import CliError
from sandboxmesh.cli.explain import explain
from sandboxmesh.cli.output import Format, OutputOption, emit, field, wire
from sandboxmesh.client import ControlPlaneClient, endpoints, errors
from sandboxmesh.spec import Phase, names
from sandboxmesh.spec.api import SandboxPublic

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Sandboxes.")

COLUMNS = [
    ("name", field("name")),
    ("team", field("team")),
    ("cluster", field("cluster")),
    ("phase", field("status", "phase")),
    ("ready", field("status", "ready")),
    ("routing key", field("routingKey")),
    ("expires", field("status", "expiresAt")),
]
POLL_SECONDS = 0.5


def _load(path: Path) -> dict[str, Any]:
    return load_manifest(path, "sandbox")


def load_manifest(path: Path, kind: str) -> dict[str, Any]:
    """The one document at `path` (YAML, or JSON for `.json`; `-`: stdin): a mapping with a
    `name`, else a one-line CliError naming `kind`."""
    try:
        text = sys_stdin() if str(path) == "-" else path.read_text()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from error
    try:
        document = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise CliError(f"{path} is not valid YAML or JSON: {error}".replace("\n", " ")) from error
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise CliError(f"{path} must hold one {kind}: a mapping with `name` and `spec`")
    return document


def sys_stdin() -> str:
    return typer.get_text_stream("stdin").read()


def _duration(text: str) -> float:
    try:
        return float(names.duration_seconds(text))
    except ValueError as error:
        raise CliError(str(error)) from error


@app.command("apply")
def apply(
    file: Path = typer.Option(
        ..., "--file", "-f", help="The sandbox manifest (YAML or JSON; - for stdin)."
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait until the sandbox is Ready."),
    timeout: str = typer.Option("10m", "--timeout", help="How long --wait waits, e.g. 90s, 10m."),
    name: str | None = typer.Option(None, "--name", help="Instead of the manifest's name."),
    label: list[str] = typer.Option(
        [], "--label", "-l", help="key=value added to the manifest's labels (repeatable)."
    ),
    output: Format = OutputOption,
) -> None:
    """Create or update a sandbox from its manifest. `--name` and `--label` let one manifest
    in a repository serve every pull request (deploy/github-action/)."""
    document = _with_overrides(_load(file), name=name, labels=label)
    limit = _duration(timeout)
    with session.client() as client:
        applied = client.send(endpoints.apply_sandbox(document))
        typer.echo(
            f"sandbox {applied.name} applied (generation {applied.generation}, "
            f"routing key {applied.routing_key})",
            err=True,
        )
        if wait:
            applied = _wait_ready(client, applied, limit)
    emit(applied, output, COLUMNS)


def _with_overrides(
    document: dict[str, Any], *, name: str | None, labels: list[str]
) -> dict[str, Any]:
    """`document` with the name given and the labels added (the server validates them)."""
    if name is not None:
        document = {**document, "name": name}
    if labels:
        spec = document.get("spec")
        if not isinstance(spec, dict):
            raise CliError("--label needs a manifest with a `spec` mapping")
        added = dict(spec.get("labels") or {})
        for pair in labels:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CliError(f"--label {pair!r} is not key=value")
            added[key] = value
        document = {**document, "spec": {**spec, "labels": added}}
    return document


def _wait_ready(client: ControlPlaneClient, sandbox: SandboxPublic, limit: float) -> SandboxPublic:
    """Poll until the cluster reported on the sandbox's current generation: Ready returns it,
    Failed, deletion or the deadline raise."""
    deadline = time.monotonic() + limit
    console = Console(stderr=True)
    name, generation = sandbox.name, sandbox.generation
    with console.status(f"waiting for {name} to be Ready...") as status:
        while True:
            state = sandbox.status
            current = state.observed_generation == generation
            if current and state.phase is Phase.READY and state.ready:
                console.print(f"[green]{name} is Ready[/green]")
                return sandbox
            if current and state.phase is Phase.FAILED:
                raise CliError(f"sandbox {name} failed: {state.reason}: {state.message}")
            if sandbox.deleting:
                raise CliError(f"sandbox {name} is being deleted")
            status.update(f"{name}: {state.phase} ({state.reason or '-'}) {state.message}".rstrip())
            if time.monotonic() > deadline:
                raise CliError(
                    f"timed out after {limit:g}s: {name} is {state.phase} ({state.reason})"
                )
            time.sleep(POLL_SECONDS)
            sandbox = client.send(endpoints.get_sandbox(name))


@app.command("list")
def list_(
    team: str | None = typer.Option(None, "--team"),
    cluster: str | None = typer.Option(None, "--cluster"),
    label: list[str] = typer.Option([], "--label", "-l", help="key=value (repeatable)."),
    phase: Phase | None = typer.Option(None, "--phase"),
    output: Format = OutputOption,
) -> None:
    labels = {}
    for selector in label:
        key, sep, value = selector.partition("=")
        if not sep:
            raise CliError(f"--label {selector!r} is not key=value")
        labels[key] = value
    with session.client() as client:
        items = list(
            session.every(
                client,
                lambda after: endpoints.list_sandboxes(
                    team=team,
                    cluster=cluster,
                    labels=labels,
                    phase=phase.value if phase else None,
                    after=after,
                ),
            )
        )
    emit({"items": [wire(sandbox) for sandbox in items]}, output, COLUMNS)


@app.command("get")
def get(name: str, output: Format = OutputOption) -> None:
    """Show a sandbox; as a table, also why it is (not) Ready, fork by fork."""
    with session.client() as client:
        sandbox = client.send(endpoints.get_sandbox(name))
    emit(sandbox, output, COLUMNS)
    if output is Format.TABLE:
        typer.echo("\n" + "\n".join(explain(sandbox)))


@app.command("delete")
def delete(
    name: str,
    wait: bool = typer.Option(False, "--wait", help="Wait until the agent confirmed removal."),
    timeout: str = typer.Option("10m", "--timeout"),
) -> None:
    """Delete a sandbox; it stays `deleting` until its cluster's agent removed it."""
    limit = _duration(timeout)
    with session.client() as client:
        client.send(endpoints.delete_sandbox(name))
        typer.echo(f"sandbox {name} is being deleted", err=True)
        if not wait:
            return
        deadline = time.monotonic() + limit
        with Console(stderr=True).status(f"waiting for {name} to be gone..."):
            while True:
                try:
                    client.send(endpoints.get_sandbox(name))
                except errors.NotFound:
                    break
                if time.monotonic() > deadline:
                    raise CliError(f"timed out after {limit:g}s: {name} is still being deleted")
                time.sleep(POLL_SECONDS)
    typer.echo(f"sandbox {name} is gone", err=True)
