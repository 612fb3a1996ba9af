"""The demo's sandbox: created through the control plane API, followed until its route is
live through Envoy."""

from __future__ import annotations

import time

import httpx

from sandboxmesh.client import ControlPlaneClient, endpoints, errors
from sandboxmesh.dev.demo.routed_app import RoutedApp
from sandboxmesh.spec import Phase, SandboxManifest, SandboxStatus


class SandboxNotReady(RuntimeError):
    """The sandbox failed or did not become Ready (or routed) in time."""


def create(client: ControlPlaneClient, manifest: SandboxManifest) -> str:
    """Create (or update) the sandbox; return its routing key."""
    return client.send(endpoints.apply_sandbox(manifest)).routing_key


def wait_ready(client: ControlPlaneClient, name: str, timeout: float) -> SandboxStatus:
    """Wait until the control plane reports the sandbox Ready (as its agent reported it)."""
    deadline = time.monotonic() + timeout
    status: SandboxStatus | None = None
    while True:
        try:
            status = client.send(endpoints.get_sandbox(name)).status
        except errors.ClientError:
            status = None
        if status is not None and status.phase is Phase.READY:
            return status
        if status is not None and status.phase is Phase.FAILED:
            raise SandboxNotReady(f"sandbox {name} failed: {status.message}")
        if time.monotonic() > deadline:
            phase = status.phase if status is not None else "unknown"
            message = status.message if status is not None else ""
            raise SandboxNotReady(
                f"sandbox {name} was not Ready within {timeout:g}s (phase {phase}: {message})"
            )
        time.sleep(0.2)


#: Answers in a row that a route must give before it counts as live: each request is a new
#: connection, so each may pass other router replicas (two per Service), each of which hears
#: of the route on its own xDS stream.
ROUTED_IN_A_ROW = 8


def wait_routed(app: RoutedApp, name: str, key: str, timeout: float) -> dict[str, str]:
    """Wait until requests with `key` have their `checkout` hop served by sandbox `name`,
    `ROUTED_IN_A_ROW` times in a row, each on a new connection."""
    deadline = time.monotonic() + timeout
    last: object = "nothing"
    in_a_row = 0
    with httpx.Client(timeout=5, headers={"connection": "close"}) as http:
        while True:
            try:
                last = app.route(key, http=http)
                routed = isinstance(last, dict) and last.get("checkout") == name
            except (httpx.HTTPError, ValueError, KeyError) as error:
                last, routed = error, False
            in_a_row = in_a_row + 1 if routed else 0
            if in_a_row >= ROUTED_IN_A_ROW:
                assert isinstance(last, dict)
                return last
            if time.monotonic() > deadline:
                raise SandboxNotReady(
                    f"sandbox {name}'s route was not live within {timeout:g}s (last: {last})"
                )
            if not routed:
                time.sleep(0.1)
