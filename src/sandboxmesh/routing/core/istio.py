"""Istio: one VirtualService per forked baseline Service, with header-match HTTP routes.

Istio's sidecars (or waypoints) already stand in front of the baseline, so its route rules
do what SandboxMesh's router does elsewhere: requests carrying a sandbox's key go to the
fork Service, everything else to the baseline Service.
"""

from __future__ import annotations

from typing import Any

from sandboxmesh.routing.core import matching, mesh
from sandboxmesh.routing.core.mesh import MeshRoutes
from sandboxmesh.routing.core.table import ServiceRef

API_VERSION = "networking.istio.io/v1"
KIND = "VirtualService"


def _host(service: ServiceRef, cluster_domain: str) -> str:
    return f"{service.name}.{service.namespace}.svc.{cluster_domain}"


def _header(match: matching.HeaderMatch) -> dict[str, dict[str, str]]:
    if match.kind is matching.MatchKind.EXACT:
        return {match.name: {"exact": match.value}}
    return {match.name: {"regex": mesh.anchored(match.value)}}


def _destination(service: ServiceRef, port: int | None, cluster_domain: str) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": _host(service, cluster_domain)}
    if port is not None:
        destination["port"] = {"number": port}
    return destination


def virtual_service(
    target: MeshRoutes, headers: matching.KeyHeaders, cluster_domain: str = "cluster.local"
) -> dict[str, Any]:
    """The VirtualService routing `target`'s keys to its forks, the rest to the baseline.

    With one port (or none known) the destination port is left to Istio; with several,
    each rule is repeated per port so a request stays on the port it came to.
    """
    ports: tuple[int | None, ...] = target.ports if len(target.ports) > 1 else (None,)
    rules = mesh.key_rules(target.routes, headers)
    http: list[dict[str, Any]] = []
    for port in ports:
        on_port = {"port": port} if port is not None else {}
        suffix = f"-{port}" if port is not None else ""
        for index, rule in enumerate(rules):
            kind = "header" if index < len(target.routes) else "baggage"
            http.append(
                {
                    "name": f"{rule.route.rule_name}-{kind}{suffix}",
                    "match": [{**on_port, "headers": _header(m)} for m in rule.matches],
                    "route": [{"destination": _destination(rule.route.fork, port, cluster_domain)}],
                }
            )
        baseline_rule: dict[str, Any] = {
            "name": f"baseline{suffix}",
            "route": [{"destination": _destination(target.baseline, port, cluster_domain)}],
        }
        if port is not None:
            baseline_rule["match"] = [on_port]
        http.append(baseline_rule)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": mesh.metadata(target.baseline, mesh.object_name(target.baseline)),
        "spec": {
            "hosts": [_host(target.baseline, cluster_domain)],
            "http": http,
        },
    }
