"""A real data plane for routing tests: the route server in a thread, Envoy from the wheel,
and local HTTP backends standing in for baseline and fork workloads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.integration.routing.routing_backends import http_backend

from sandboxmesh.dev.local_routing.envoy_process import EnvoyProcess
from sandboxmesh.dev.local_routing.local_run import LocalRouting, local_routing
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.routing.core.upstreams import Address
from sandboxmesh.routing.server import RouteServerThread


@dataclass
class DataPlane:
    routing: LocalRouting
    fronts: dict[str, Front]
    client: httpx.Client

    @property
    def server(self) -> RouteServerThread:
        return self.routing.server

    @property
    def envoy(self) -> EnvoyProcess:
        return self.routing.envoy

    @property
    def listener_ports(self) -> dict[str, int]:
        return self.routing.listener_ports

    def served_by(self, service: str, headers: list[tuple[str, str]] | None = None) -> str:
        """Which backend answered a GET through Envoy's front for `service`."""
        port = self.listener_ports[self.fronts[service].name]
        response = self.client.get(f"http://127.0.0.1:{port}/hello", headers=headers or [])
        assert response.status_code == 200, (response.status_code, response.text)
        served: str = response.json()["servedBy"]
        return served

    def http(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.server.http_port}{path}", timeout=5)

    def envoy_clusters(self) -> set[str]:
        body = self.envoy.admin("/clusters?format=json").json()
        return {c["name"] for c in body.get("cluster_statuses", [])}


StartDataPlane = Callable[..., DataPlane]


@pytest.fixture
def start_data_plane(tmp_path: Path) -> Iterator[StartDataPlane]:
    """Start backends, a route server and Envoy.

    `baselines` names the baseline Services fronted (in `namespace`, port 80); `forks`
    names fork Services (same namespace) that get a backend of their own, reached through
    the route server's address map. Each backend answers with its Service's name.
    """
    with contextlib.ExitStack() as stack:

        def start(
            baselines: list[str],
            forks: list[str],
            *,
            kubeconfig: Path | None = None,
            headers: KeyHeaders | None = None,
            bad_fronts: list[Front] | None = None,
            namespace: str = "shop",
        ) -> DataPlane:
            overrides = {}
            for fork in forks:
                port = stack.enter_context(http_backend(fork))
                overrides[(ServiceRef(namespace, fork), 80)] = Address("127.0.0.1", port)
            fronts = {}
            for service in baselines:
                port = stack.enter_context(http_backend(service))
                fronts[service] = Front(
                    namespace=namespace,
                    service=service,
                    port=80,
                    listen_address="127.0.0.1",
                    listen_port=0,
                    baseline_host="127.0.0.1",
                    baseline_port=port,
                )
            local = stack.enter_context(
                local_routing(
                    [*fronts.values(), *(bad_fronts or [])],
                    tmp_path / "envoy",
                    kubeconfig=kubeconfig,
                    addresses=overrides,
                    headers=headers,
                    wait_ready=not bad_fronts,
                )
            )
            client = stack.enter_context(httpx.Client(timeout=5))
            return DataPlane(local, fronts, client)

        yield start
