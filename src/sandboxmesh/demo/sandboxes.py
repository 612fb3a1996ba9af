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


def wait_routed(app: RoutedApp, name: str, key: str, timeout: float) -> dict[str, str]:
    """Wait until a request with `key` has its `checkout` hop served by sandbox `name`."""
    deadline = time.monotonic() + timeout
    last: object = "nothing"
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                last = app.route(key, http=http)
                if isinstance(last, dict) and last.get("checkout") == name:
                    return last
            except (httpx.HTTPError, ValueError, KeyError) as error:
                last = error
            if time.monotonic() > deadline:
                raise SandboxNotReady(
                    f"sandbox {name}'s route was not live within {timeout:g}s (last: {last})"
                )
            time.sleep(0.1)
