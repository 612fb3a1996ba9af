"""The demo's sandbox: created through the control plane API, followed until its route is
live through Envoy."""

from __future__ import annotations

import time
from typing import Any

import httpx

from sandboxmesh.client import ControlPlaneClient, endpoints, errors
from sandboxmesh.demo.routed_app import RoutedApp
from sandboxmesh.spec import SandboxManifest


class SandboxNotReady(RuntimeError):
    """The sandbox failed or did not become Ready (or routed) in time."""


def create(client: ControlPlaneClient, manifest: SandboxManifest) -> str:
    """Create (or update) the sandbox; return its routing key."""
    created = client.send(endpoints.apply_sandbox(manifest))
    return str(created["routingKey"])


def wait_ready(client: ControlPlaneClient, name: str, timeout: float) -> dict[str, Any]:
    """Wait until the control plane reports the sandbox Ready (as its agent reported it)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while True:
        try:
            status = client.send(endpoints.get_sandbox(name))["status"]
        except errors.ClientError:
            status = {}
        if status.get("phase") == "Ready":
            return status
        if status.get("phase") == "Failed":
            raise SandboxNotReady(f"sandbox {name} failed: {status.get('message', '')}")
        if time.monotonic() > deadline:
            raise SandboxNotReady(
                f"sandbox {name} was not Ready within {timeout:g}s "
                f"(phase {status.get('phase', 'unknown')}: {status.get('message', '')})"
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
