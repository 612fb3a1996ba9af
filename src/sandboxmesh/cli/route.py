"""`sandboxmesh route trace URL (--sandbox NAME | --key KEY)`: every hop's routing decision.

It asks the control plane for a trace first (so the cluster's agent is already reading the
route server when the routers log the request), then sends one GET to URL carrying a fresh
W3C `traceparent`, `tracestate: sandboxmesh=1` (which asks the routers to log it) and the
sandbox's routing key in `baggage`, and waits for the agent's answer. Each hop prints the
Service, the decision (`baseline` or the sandbox whose fork served it) and the reason, worded
by the route server: a hop that lost the key an earlier hop had says which caller dropped it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import typer

from sandboxmesh.cli import session
from sandboxmesh.cli.errors import CliError
from sandboxmesh.cli.output import Format, OutputOption, emit, field, wire
from sandboxmesh.client import ControlPlaneClient, endpoints
from sandboxmesh.spec import Phase
from sandboxmesh.spec.api import SandboxPublic, TracePublic, TraceState
from sandboxmesh.spec.api.routegroups import RouteGroupPublic

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Routing.")

#: The `tracestate` member that asks routers to log a request (routing.core.trace's).
TRACESTATE = "sandboxmesh=1"
BAGGAGE_MEMBER = "sandboxmesh-routing-key"
POLL_SECONDS = 0.3
COLUMNS = [
    ("service", field("service")),
    ("decision", field("decision")),
    ("reason", field("reason")),
]


class NoHops(CliError):
    """The request was sent but no router reported it (exit code 3)."""

    exit_code = 3


def traceparent() -> tuple[str, str]:
    """A fresh sampled W3C `traceparent` and its trace id."""
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


def request_headers(extra: list[str], *, parent: str, key: str) -> list[tuple[str, str]]:
    """The user's `-H 'Name: value'` headers, then the trace's; a `baggage` header of the
    user's keeps its members and gets the routing key appended."""
    headers: list[tuple[str, str]] = []
    baggage = []
    for raw in extra:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise CliError(f"a header is 'Name: value', not {raw!r}")
        name, value = name.strip(), value.strip()
        lowered = name.lower()
        if lowered in ("traceparent", "tracestate"):
            raise CliError(f"{name} is set by route trace itself")
        if lowered == "baggage":
            baggage.append(value)
            continue
        headers.append((name, value))
    baggage.append(f"{BAGGAGE_MEMBER}={key}")
    headers += [
        ("traceparent", parent),
        ("tracestate", TRACESTATE),
        ("baggage", ",".join(baggage)),
    ]
    return headers


def _target(
    client: ControlPlaneClient, name: str | None, key: str | None
) -> tuple[SandboxPublic, str]:
    """The sandbox whose cluster to ask, and the key to send: `--sandbox`'s own, or
    `--key`'s: a sandbox's, or a route group's (asked through one of its members, whose
    cluster is the group's)."""
    if (name is None) == (key is None):
        raise CliError("give exactly one of --sandbox NAME or --key KEY")
    if name is not None:
        found = client.send(endpoints.get_sandbox(name))
        return found, found.routing_key
    assert key is not None
    for sandbox in session.every(
        client, lambda after: endpoints.list_sandboxes(after=after, limit=500)
    ):
        if sandbox.routing_key == key:
            return sandbox, key
    group = _route_group(client, key)
    if group is None:
        raise CliError(f"no sandbox or route group of your organisation has the routing key {key}")
    if not group.members:
        raise CliError(f"route group {group.name} has no members: no sandbox of it to trace")
    return client.send(endpoints.get_sandbox(group.members[0].name)), key


def _route_group(client: ControlPlaneClient, key: str) -> RouteGroupPublic | None:
    groups = session.every(client, lambda after: endpoints.list_route_groups(after=after))
    return next((group for group in groups if group.routing_key == key), None)


def _wait(client: ControlPlaneClient, sandbox: str, trace_id: str, deadline: float) -> TracePublic:
    while True:
        trace = client.send(endpoints.get_trace(sandbox, trace_id))
        if trace.state is not TraceState.PENDING or time.monotonic() >= deadline:
            return trace
        time.sleep(POLL_SECONDS)


@app.command("trace")
def trace(
    url: str = typer.Argument(..., help="What to GET, e.g. http://frontend.shop/checkout."),
    sandbox: str | None = typer.Option(None, "--sandbox", help="Send the sandbox's key."),
    key: str | None = typer.Option(
        None, "--key", help="Send this routing key (a sandbox's or a route group's)."
    ),
    header: list[str] = typer.Option(
        [], "--header", "-H", help="Another request header, 'Name: value' (repeatable)."
    ),
    timeout: float = typer.Option(
        15.0, "--timeout", min=1, max=300, help="Seconds to wait for the routers' decisions."
    ),
    output: Format = OutputOption,
) -> None:
    """Send one traced request and print every hop's routing decision, in order."""
    parent, trace_id = traceparent()
    with session.client() as client:
        found, sent_key = _target(client, sandbox, key)
        if found.deleting:
            raise CliError(f"sandbox {found.name} is being deleted")
        if found.status.phase is not Phase.READY:
            typer.echo(
                f"warning: sandbox {found.name} is {found.status.phase.value}: its forks may "
                "not serve yet (the hops will say so)",
                err=True,
            )
        started = time.monotonic()
        client.send(endpoints.request_trace(found.name, trace_id))
        headers = request_headers(header, parent=parent, key=sent_key)
        try:
            response = httpx.get(url, headers=headers, timeout=min(timeout, 30.0))
        except httpx.HTTPError as error:
            raise CliError(f"GET {url} failed: {error}") from error
        answered = _wait(client, found.name, trace_id, started + timeout)
    if answered.state is not TraceState.ANSWERED:
        raise NoHops(
            f"no answer from cluster {found.cluster} within {round(timeout)}s: is its agent "
            "running with --route-server-url (the chart's routeServer.enabled)?"
        )
    if not answered.hops:
        raise NoHops(
            f"no router reported this request within {round(timeout)}s: is the Service behind "
            'routers (sandboxmesh.io/route: "true")?'
        )
    _print(url, response.status_code, answered, output)


def _print(url: str, status: int, answered: TracePublic, output: Format) -> None:
    if output is Format.TABLE:
        typer.echo(f"GET {url} -> HTTP {status}   trace {answered.trace_id}")
        emit({"items": [wire(hop) for hop in answered.hops]}, output, COLUMNS)
        return
    body: dict[str, Any] = {"url": url, "status": status, **wire(answered)}
    emit(body, output)
