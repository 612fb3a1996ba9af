"""Routing on one machine: a route server and a real Envoy in front of local processes.

For the demo and the tests, where "Pods" are local processes. `local_routing` starts the
route server (watching the cluster's Sandbox objects when given a kubeconfig) and an Envoy
with one listener per front; `map_service` says where a (fork) Service's process listens.
In a cluster none of this runs: the chart starts `sandboxmesh route-server` and Envoy
routers, and forks are reached by their Service's DNS name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from sandboxmesh.dev.local_routing.envoy_process import EnvoyProcess
from sandboxmesh.routing.core.bootstrap import AdsServer, envoy_bootstrap
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.routing.core.upstreams import Address, AddressMap, ServiceAddresses
from sandboxmesh.routing.server import RouteServer, RouteServerSettings, RouteServerThread


@dataclass
class LocalRouting:
    server: RouteServerThread
    envoy: EnvoyProcess
    fronts: list[Front]
    #: The port Envoy listens on for each front, by front name.
    listener_ports: dict[str, int]

    def port_of(self, namespace: str, service: str, port: int) -> int:
        """Where to send requests meant for Service `namespace/service:port` (via Envoy)."""
        for front in self.fronts:
            if (front.namespace, front.service, front.port) == (namespace, service, port):
                return self.listener_ports[front.name]
        raise KeyError(f"no front for {namespace}/{service}:{port}")

    def map_service(self, namespace: str, service: str, port: int, address: Address) -> None:
        """Reach Service `namespace/service:port` at `address` (a local process). For a
        fronted (baseline) Service, this is where Envoy sends requests without a fork's key."""
        self._update_overrides({(ServiceRef(namespace, service), port): address}, ())

    def unmap_service(self, namespace: str, service: str, port: int) -> None:
        self._update_overrides({}, ((ServiceRef(namespace, service), port),))

    def mapped(self, namespace: str, service: str, port: int) -> Address | None:
        """Where Service `namespace/service:port` was mapped, if it was."""
        key = (ServiceRef(namespace, service), port)
        return self.server.read(lambda s: s.state.addresses.overrides.get(key))

    def _update_overrides(
        self, add: dict[tuple[ServiceRef, int], Address], remove: tuple[tuple[ServiceRef, int], ...]
    ) -> None:
        # Read and write in one call on the server's loop, so concurrent callers never undo
        # each other's changes.
        def update(server: RouteServer) -> None:
            current = server.state.addresses
            overrides = {k: v for k, v in current.overrides.items() if k not in remove}
            overrides.update(add)
            server.state.set_addresses(replace(current, overrides=overrides))

        self.server.read(update)


@contextlib.contextmanager
def local_routing(
    fronts: list[Front],
    workdir: Path,
    *,
    kubeconfig: Path | None = None,
    addresses: AddressMap | None = None,
    headers: KeyHeaders | None = None,
    ready_timeout: float = 30,
    wait_ready: bool = True,
    cluster_dns: bool = True,
) -> Iterator[LocalRouting]:
    """Start the route server and Envoy; yield once Envoy serves every front (unless
    `wait_ready` is off: then listener ports are not known yet).

    With `cluster_dns` off, a fork Service that is not mapped gets no route (its key's
    requests reach the baseline) rather than a cluster DNS name that cannot resolve here:
    a fork's route then goes live only once both its Sandbox says it is ready and its
    process is mapped, whichever comes last."""
    settings = RouteServerSettings(
        headers=headers or KeyHeaders(),
        addresses=ServiceAddresses(overrides=dict(addresses or {}), cluster_dns=cluster_dns),
        watch=kubeconfig is not None,
        kubeconfig=kubeconfig,
    )
    with RouteServerThread(settings) as server:
        document = envoy_bootstrap(
            node_id="sandboxmesh-local",
            node_cluster="sandboxmesh-local",
            fronts=fronts,
            ads=AdsServer("127.0.0.1", server.xds_port),
            admin_port=0,
        )
        with EnvoyProcess(document, workdir) as envoy:
            if not wait_ready:
                yield LocalRouting(server, envoy, fronts, {})
                return
            envoy.wait_ready(ready_timeout)
            yield LocalRouting(server, envoy, fronts, envoy.listener_ports())
