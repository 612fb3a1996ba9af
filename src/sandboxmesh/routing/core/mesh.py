"""What the service-mesh renderers share: their input, rule order, and object metadata.

Where a mesh already stands in front of every workload (Istio sidecars or ambient, or a
Gateway API mesh implementation), SandboxMesh needs no router of its own: the same route
table is written as the mesh's routing objects. Rules keep Envoy's order: every exact-header
rule before any baggage rule, and the baseline last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandboxmesh.routing.core import matching
from sandboxmesh.routing.core.table import ForkRoute, ServiceRef
from sandboxmesh.spec import crd

LABEL_BASELINE = "sandboxmesh.io/baseline"


@dataclass(frozen=True)
class MeshRoutes:
    """The fork routes of one baseline Service, with the Service's ports."""

    baseline: ServiceRef
    ports: tuple[int, ...]
    routes: tuple[ForkRoute, ...]


@dataclass(frozen=True)
class KeyRule:
    """Requests matching any of `matches` go to `fork`."""

    route: ForkRoute
    matches: tuple[matching.HeaderMatch, ...]


def anchored(pattern: str) -> str:
    """`pattern` as a whole-value match whatever the implementation's default.

    Envoy (so Istio) matches header regexes against the whole value, but Gateway API leaves
    the dialect and anchoring to each implementation; explicit anchors mean the same thing
    under both.
    """
    return f"^(?:{pattern})$"


def key_rules(routes: tuple[ForkRoute, ...], headers: matching.KeyHeaders) -> list[KeyRule]:
    """Exact-header rules of every fork, then baggage rules of every fork (Envoy's order)."""
    exact: list[KeyRule] = []
    baggage: list[KeyRule] = []
    for route in routes:
        matches = matching.header_matches(route.key, headers)
        exact.append(
            KeyRule(route, tuple(m for m in matches if m.kind is matching.MatchKind.EXACT))
        )
        baggage.append(
            KeyRule(route, tuple(m for m in matches if m.kind is matching.MatchKind.REGEX))
        )
    return exact + baggage


def object_name(baseline: ServiceRef, suffix: str = "") -> str:
    """`sandboxmesh-<service>[suffix]`: Service names are DNS labels, so this always fits."""
    return f"sandboxmesh-{baseline.name}{suffix}"


def metadata(baseline: ServiceRef, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": baseline.namespace,
        "labels": {crd.LABEL_MANAGED_BY: crd.MANAGED_BY, LABEL_BASELINE: baseline.name},
    }
