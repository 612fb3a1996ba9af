"""The demo app on a local node, behind the route server and a real Envoy.

What `sandboxmesh demo` runs and what the two-hop tests and the routing benchmark reuse:

- the route server (watching the cluster's Sandbox objects) and Envoy, with one front per
  demo Service: every hop goes through Envoy, which decides at the destination;
- a `LocalNode` whose kubelet runs the app's Pods, baseline and forks alike, as local
  processes and tells the route server which process serves each Service (`RoutedNetwork`);
- the app's Deployments and Services, applied to the cluster.

Processes reach the other Services through their Service links, which point at Envoy's fronts,
so `frontend -> checkout` is routed exactly as a router would route it in a cluster. Forks are
reached only once mapped (`cluster_dns` off), so a fork's route goes live when both its
Sandbox says it is ready and its process is serving.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lightkube import ApiError, Client, KubeConfig, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from sandboxmesh.demo import manifests
from sandboxmesh.localpods import LocalNode, LocalNodeSettings
from sandboxmesh.localpods.endpoints import Address as NodeAddress
from sandboxmesh.routing import (
    BAGGAGE_HEADER,
    BAGGAGE_MEMBER,
    Address,
    Front,
    LocalRouting,
    local_routing,
)

FIELD_MANAGER = "sandboxmesh-demo"


class AppNotReady(RuntimeError):
    """The app did not answer through Envoy in time; the message says what it answered."""


@dataclass
class RoutedNetwork:
    """The local node's Service network: Services served by processes the route server
    maps, reached through Envoy where Envoy fronts them."""

    routing: LocalRouting

    def serve(self, namespace: str, service: str, port: int, address: NodeAddress | None) -> None:
        if address is None:
            self.routing.unmap_service(namespace, service, port)
        else:
            self.routing.map_service(namespace, service, port, Address(*address))

    def reach(self, namespace: str, service: str, port: int) -> NodeAddress | None:
        with contextlib.suppress(KeyError):
            return ("127.0.0.1", self.routing.port_of(namespace, service, port))
        mapped = self.routing.mapped(namespace, service, port)
        return None if mapped is None else (mapped.host, mapped.port)


def versions(body: dict[str, Any]) -> dict[str, str]:
    """Which version served each hop of a demo response: service -> `baseline` or sandbox."""
    return {hop["service"]: hop["version"] for hop in body["hops"]}


def key_headers(key: str | None) -> dict[str, str]:
    """The headers of a request carrying routing key `key` (in W3C baggage, among others)."""
    if key is None:
        return {}
    return {BAGGAGE_HEADER: f"userId=demo,{BAGGAGE_MEMBER}={key}"}


@dataclass
class RoutedApp:
    namespace: str
    routing: LocalRouting
    node: LocalNode

    def url(self, service: str = manifests.FRONTEND) -> str:
        port = self.routing.port_of(self.namespace, service, manifests.SERVICE_PORT)
        return f"http://127.0.0.1:{port}/"

    @property
    def frontend_url(self) -> str:
        return self.url(manifests.FRONTEND)

    def route(self, key: str | None = None, *, http: httpx.Client | None = None) -> dict[str, str]:
        """GET the frontend (with `key` in baggage) and return which version served each hop;
        raises httpx.HTTPStatusError on an error answer."""
        with contextlib.ExitStack() as stack:
            if http is None:
                http = stack.enter_context(httpx.Client(timeout=10))
            response = http.get(self.frontend_url, headers=key_headers(key))
            response.raise_for_status()
            return versions(response.json())


def fronts(namespace: str, frontend_port: int) -> list[Front]:
    """One front per demo Service; its baseline is the Service's DNS name, as a router's is
    (the route server's address map replaces it with the baseline's local process)."""
    return [
        Front(
            namespace=namespace,
            service=s.name,
            port=manifests.SERVICE_PORT,
            listen_address="127.0.0.1",
            listen_port=frontend_port if s.name == manifests.FRONTEND else 0,
            baseline_host=f"{s.name}.{namespace}.svc.cluster.local",
            baseline_port=manifests.SERVICE_PORT,
        )
        for s in manifests.SERVICES
    ]


def ensure_namespace(kubeconfig: Path, namespace: str) -> None:
    """Create the namespace unless it exists."""
    client = Client(config=KubeConfig.from_file(kubeconfig), field_manager=FIELD_MANAGER)
    try:
        client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    except ApiError as error:
        if error.status.code != 409:
            raise
    finally:
        client.close()


def apply_app(kubeconfig: Path, namespace: str, placement: dict[str, Any]) -> None:
    """Apply the app's objects in `namespace` (server-side apply), creating it if missing."""
    ensure_namespace(kubeconfig, namespace)
    client = Client(config=KubeConfig.from_file(kubeconfig), field_manager=FIELD_MANAGER)
    try:
        for obj in manifests.app_objects(namespace, placement):
            client.apply(codecs.from_dict(obj), force=True)
    finally:
        client.close()


def wait_baseline(app: RoutedApp, timeout: float) -> None:
    """Wait until the frontend answers through Envoy, every hop by its baseline."""
    wanted = {s.name: "baseline" for s in manifests.SERVICES}
    deadline = time.monotonic() + timeout
    last: object = "nothing"
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                last = app.route(http=http)
                if last == wanted:
                    return
            except (httpx.HTTPError, ValueError, KeyError) as error:
                last = error
            if time.monotonic() > deadline:
                raise AppNotReady(
                    f"the demo app did not answer through Envoy within {timeout:g}s (last: {last})"
                )
            time.sleep(0.1)


@contextlib.contextmanager
def routed_app(
    kubeconfig: Path,
    workdir: Path,
    *,
    namespace: str = manifests.NAMESPACE,
    frontend_port: int = 0,
    node_name: str | None = None,
    ready_timeout: float = 90,
) -> Iterator[RoutedApp]:
    """Start routing, the local node and the app; yield once the frontend answers through
    Envoy with every hop served by its baseline. Stops the processes and Envoy on exit
    (the app's objects stay in the cluster)."""
    with local_routing(
        fronts(namespace, frontend_port),
        workdir / "envoy",
        kubeconfig=kubeconfig,
        cluster_dns=False,
    ) as routing:
        settings = LocalNodeSettings(
            name=node_name or f"local-{uuid.uuid4().hex[:8]}",
            workdir=workdir / "pods",
            programs=manifests.programs(),
            kubeconfig=kubeconfig,
        )
        with LocalNode(settings, RoutedNetwork(routing)) as node:
            apply_app(kubeconfig, namespace, node.placement())
            app = RoutedApp(namespace, routing, node)
            wait_baseline(app, ready_timeout)
            yield app
