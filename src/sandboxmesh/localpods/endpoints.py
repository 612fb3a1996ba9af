"""Which local process serves each Service port, and the network that is told about it.

Local processes have no Pod IPs and there is no kube-proxy: `service_addresses` (pure) plays
the endpoints controller, choosing for each Service port one Ready, not-deleting Pod of the
local node that the Service's selector picks (the oldest, so a rolling update moves traffic
only once the old Pod goes), and resolving the port's `targetPort` to that Pod's local port.
One process per Service receives the traffic: enough for local runs, where replicas add
nothing.

A `ServiceNetwork` is told where each Service port is served (`serve`) and says where this
machine reaches a Service (`reach`, for the Service links of new processes). `DirectNetwork`
reaches Services at their processes; the demo's network puts Envoy in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Json = dict[str, Any]
Address = tuple[str, int]
#: (namespace, Service name, Service port).
ServicePort = tuple[str, str, int]

LOCALHOST = "127.0.0.1"


class ServiceNetwork(Protocol):
    def serve(self, namespace: str, service: str, port: int, address: Address | None) -> None:
        """Service `namespace/service` port `port` is now served at `address` (None: nowhere)."""

    def reach(self, namespace: str, service: str, port: int) -> Address | None:
        """Where a process on this machine reaches that Service port, if it can."""


@dataclass
class DirectNetwork:
    """Services reached straight at their processes."""

    served: dict[ServicePort, Address] = field(default_factory=dict)

    def serve(self, namespace: str, service: str, port: int, address: Address | None) -> None:
        if address is None:
            self.served.pop((namespace, service, port), None)
        else:
            self.served[(namespace, service, port)] = address

    def reach(self, namespace: str, service: str, port: int) -> Address | None:
        return self.served.get((namespace, service, port))


@dataclass(frozen=True)
class ServingPod:
    """A Ready, not-deleting Pod of the local node, as the endpoint choice needs it."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    #: Sorts Pods oldest first (creation timestamp, then name).
    age_key: tuple[str, str]
    #: Local port by container port number and by container port name.
    ports: Mapping[int | str, int]


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def service_addresses(
    services: Iterable[Json], pods: Iterable[ServingPod]
) -> dict[ServicePort, Address]:
    """Each Service port served by one of `pods`, and where."""
    by_namespace: dict[str, list[ServingPod]] = {}
    for pod in sorted(pods, key=lambda p: p.age_key):
        by_namespace.setdefault(pod.namespace, []).append(pod)
    addresses: dict[ServicePort, Address] = {}
    for service in services:
        spec = service.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector or spec.get("type") == "ExternalName":
            continue  # endpoints of a Service without a selector are someone else's
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        chosen = next(
            (p for p in by_namespace.get(namespace, []) if _selects(selector, p.labels)), None
        )
        if chosen is None:
            continue
        for port in spec.get("ports") or []:
            if port.get("protocol", "TCP") != "TCP":
                continue
            target = port.get("targetPort", port["port"])
            local = chosen.ports.get(int(target) if str(target).isdigit() else str(target))
            if local is not None:
                addresses[(namespace, name, int(port["port"]))] = (LOCALHOST, local)
    return addresses
