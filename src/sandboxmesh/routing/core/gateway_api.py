"""Gateway API (mesh, "GAMMA"): HTTPRoutes attached to the baseline Service itself.

An HTTPRoute whose parent is a Service steers the mesh's traffic to that Service; requests
that match no rule of it would get a 404, so the last rule sends everything else to the
baseline Service (a backend that is the parent Service means its own endpoints).

Limits of the API shape the output: a rule holds at most 64 matches and a route at most 16
rules, and a Service backend needs its port, so there is one HTTPRoute per Service port,
split into more when the rules do not fit (`-<port>`, `-<port>-2`, ...). The baseline rule
has no header match, so any implementation ranks it below every key rule wherever it sits.
"""

from __future__ import annotations

from typing import Any

from sandboxmesh.routing.core import matching, mesh
from sandboxmesh.routing.core.mesh import MeshRoutes

API_VERSION = "gateway.networking.k8s.io/v1"
KIND = "HTTPRoute"
MAX_RULES = 16


def _match(match: matching.HeaderMatch) -> dict[str, Any]:
    if match.kind is matching.MatchKind.EXACT:
        header = {"type": "Exact", "name": match.name, "value": match.value}
    else:
        header = {
            "type": "RegularExpression",
            "name": match.name,
            "value": mesh.anchored(match.value),
        }
    return {"headers": [header]}


def _kind(index: int, target: MeshRoutes) -> str:
    """Which half of `mesh.key_rules` the rule at `index` is in."""
    return "header" if index < len(target.routes) else "baggage"


def http_routes(target: MeshRoutes, headers: matching.KeyHeaders) -> list[dict[str, Any]]:
    """The HTTPRoutes for `target`: per port, key rules in Envoy's order, then the baseline."""
    routes: list[dict[str, Any]] = []
    for port in target.ports:
        rules: list[dict[str, Any]] = [
            {
                "name": f"{rule.route.rule_name}-{_kind(i, target)}",
                "matches": [_match(m) for m in rule.matches],
                "backendRefs": [{"name": rule.route.fork.name, "port": port}],
            }
            for i, rule in enumerate(mesh.key_rules(target.routes, headers))
        ]
        rules.append(
            {"name": "baseline", "backendRefs": [{"name": target.baseline.name, "port": port}]}
        )
        chunks = [rules[i : i + MAX_RULES] for i in range(0, len(rules), MAX_RULES)]
        for index, chunk in enumerate(chunks):
            suffix = f"-{port}" if index == 0 else f"-{port}-{index + 1}"
            routes.append(
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "metadata": mesh.metadata(
                        target.baseline, mesh.object_name(target.baseline, suffix)
                    ),
                    "spec": {
                        "parentRefs": [
                            {
                                "group": "",
                                "kind": "Service",
                                "name": target.baseline.name,
                                "port": port,
                            }
                        ],
                        "rules": chunk,
                    },
                }
            )
    return routes
