"""The route table: for each baseline Service, which routing key goes to which fork Service.

Computed from Sandbox objects alone (their spec's routing key and the fork Services the
operator lists in their status), so any component can recompute it and get the same answer.

A fork's route exists only while:

- the sandbox is not being deleted (no deletionTimestamp, phase not Terminating): the
  operator withdraws routes before deleting forks, so no request reaches a fork on its way out;
- the fork itself reports `ready`. Per fork rather than per sandbox, because a sandbox goes
  un-Ready while *any* of its forks rolls out an update: withdrawing every route of the
  sandbox then would send its key's traffic to the baselines in mid-test, and flap. A fork
  becomes ready no later than its sandbox does, so a new sandbox's routes are live by the
  time the sandbox reports Ready.

Forks that exist but are not ready yet are listed apart (`pending`): no request goes to them,
but Envoy may get their clusters ahead, so that a fork turning ready waits only for its route
(one round of xDS, not two).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from sandboxmesh.routing.core import matching
from sandboxmesh.spec import Phase, SandboxStatus
from sandboxmesh.spec.names import routed_service

log = logging.getLogger(__name__)

SERVICE_KIND = "Service"
SERVICE_API_VERSION = "v1"


@dataclass(frozen=True, order=True)
class ServiceRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ForkRoute:
    """Requests carrying `key` for the baseline go to `fork`, a Service of sandbox `sandbox`.

    `group` names the route group whose key `key` is, when it is not the sandbox's own.
    """

    key: str
    sandbox: str
    fork: ServiceRef
    group: str | None = None

    @property
    def rule_name(self) -> str:
        """A name for the route in a mesh's objects: the sandbox's, qualified by its group."""
        return self.sandbox if self.group is None else f"{self.group}.{self.sandbox}"


#: A baseline workload: (kind, namespace, name), as `ForkRef.key()` gives it.
Baseline = tuple[str, str, str]


@dataclass(frozen=True)
class GroupConflict:
    """Members `sandboxes` of group `group` all fork `baseline` (kind, namespace, name);
    `services` are the baseline's Services that the group's key therefore does not route."""

    group: str
    key: str
    baseline: Baseline
    sandboxes: tuple[str, ...]
    services: tuple[ServiceRef, ...] = ()

    def baseline_text(self) -> str:
        return "/".join(self.baseline)


@dataclass(frozen=True)
class SandboxView:
    """What the route table needs of one Sandbox object."""

    name: str
    routing_key: str | None
    deleting: bool
    status: SandboxStatus | None
    #: The sandbox's `spec.labels` (what route groups select on), sorted.
    labels: tuple[tuple[str, str], ...] = ()
    #: The baselines its spec forks, as `ForkRef.key()` tuples (kind, namespace, name).
    forks_of: tuple[Baseline, ...] = ()

    @property
    def live(self) -> bool:
        """Neither being deleted nor Terminating: its forks may take requests."""
        return not self.deleting and (
            self.status is None or self.status.phase is not Phase.TERMINATING
        )


@dataclass(frozen=True)
class RouteTable:
    """Baseline Service -> its fork routes, ordered by sandbox name; `conflicts` explains drops."""

    routes: Mapping[ServiceRef, tuple[ForkRoute, ...]] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()
    #: Forks of live sandboxes that are not ready yet: never routed to (see module docstring).
    pending: Mapping[ServiceRef, tuple[ForkRoute, ...]] = field(default_factory=dict)
    #: Baselines that several members of a route group fork: the group's key routes none of
    #: their Services (core/groups.py).
    group_conflicts: tuple[GroupConflict, ...] = ()

    def routes_for(self, baseline: ServiceRef) -> tuple[ForkRoute, ...]:
        return self.routes.get(baseline, ())

    def pending_for(self, baseline: ServiceRef) -> tuple[ForkRoute, ...]:
        return self.pending.get(baseline, ())

    def baselines(self) -> list[ServiceRef]:
        return sorted(self.routes)

    def route_count(self) -> int:
        return sum(len(routes) for routes in self.routes.values())

    def to_json(self) -> dict[str, Any]:
        """The table as the HTTP API serves it (stable order)."""
        return {
            "baselines": [
                {
                    "namespace": baseline.namespace,
                    "service": baseline.name,
                    "routes": [
                        {
                            "routingKey": route.key,
                            "sandbox": route.sandbox,
                            "forkService": route.fork.name,
                        }
                        | ({"routeGroup": route.group} if route.group else {})
                        for route in self.routes[baseline]
                    ],
                }
                for baseline in self.baselines()
            ],
            "conflicts": list(self.conflicts),
            "groupConflicts": [
                {
                    "routeGroup": conflict.group,
                    "baseline": conflict.baseline_text(),
                    "sandboxes": list(conflict.sandboxes),
                    "services": [str(service) for service in conflict.services],
                }
                for conflict in self.group_conflicts
            ],
        }


class InvalidSandbox(ValueError):
    """A Sandbox object whose status does not parse; it contributes no route."""


def sandbox_view(obj: Mapping[str, Any]) -> SandboxView:
    """Read a Sandbox object (as the API server returns it, a JSON dict)."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", ""))
    spec = obj.get("spec") or {}
    raw_status = obj.get("status")
    try:
        status = SandboxStatus.model_validate(raw_status) if raw_status else None
    except pydantic.ValidationError as error:
        raise InvalidSandbox(f"sandbox {name}: status does not parse: {error}") from error
    key = spec.get("routingKey")
    labels = spec.get("labels")
    return SandboxView(
        name=name,
        routing_key=key if isinstance(key, str) else None,
        deleting=bool(metadata.get("deletionTimestamp")),
        status=status,
        labels=tuple(
            sorted((str(k), str(v)) for k, v in labels.items()) if isinstance(labels, dict) else ()
        ),
        forks_of=_forks_of(spec.get("forks")),
    )


def _forks_of(forks: Any) -> tuple[Baseline, ...]:
    """The (kind, namespace, name) of each fork's baseline, skipping what does not parse (the
    API server validated the spec; a route table is no place to refuse it)."""
    found: set[Baseline] = set()
    for fork in forks if isinstance(forks, list) else []:
        ref = fork.get("forkOf") if isinstance(fork, dict) else None
        if not isinstance(ref, dict):
            continue
        namespace, name = ref.get("namespace"), ref.get("name")
        if isinstance(namespace, str) and isinstance(name, str):
            found.add((str(ref.get("kind", "Deployment")), namespace, name))
    return tuple(sorted(found))


def fork_routes(sandbox: SandboxView, *, ready: bool = True) -> list[tuple[ServiceRef, ForkRoute]]:
    """The (baseline, route) pairs one sandbox contributes right now (see module docstring);
    with `ready` False, those of its forks that exist but are not ready yet."""
    status = sandbox.status
    if sandbox.deleting or status is None or status.phase is Phase.TERMINATING:
        return []
    if sandbox.routing_key is None:
        return []
    try:
        key = matching.check_key(sandbox.routing_key)
    except matching.InvalidRoutingKey:
        return []
    pairs: list[tuple[ServiceRef, ForkRoute]] = []
    for fork in status.forks:
        if fork.ready is not ready:
            continue
        for obj in fork.objects:
            if obj.kind != SERVICE_KIND or obj.api_version != SERVICE_API_VERSION:
                continue
            if not obj.baseline or obj.baseline == obj.name:
                continue  # a route to itself would loop
            baseline = ServiceRef(obj.namespace, routed_service(obj.baseline))
            pairs.append(
                (baseline, ForkRoute(key, sandbox.name, ServiceRef(obj.namespace, obj.name)))
            )
    return pairs


def route_table_for(sandboxes: Iterable[SandboxView]) -> RouteTable:
    """The route table of a set of sandboxes; deterministic whatever their order.

    Routing keys are unique by contract; should two sandboxes still share one on a baseline,
    or one sandbox name two forks of the same baseline Service, the first by sandbox name
    (then fork name) keeps the route and the conflict is reported.
    """
    routes: dict[ServiceRef, list[ForkRoute]] = {}
    pending: dict[ServiceRef, list[ForkRoute]] = {}
    conflicts: list[str] = []
    for sandbox in sorted(sandboxes, key=lambda s: s.name):
        for baseline, route in fork_routes(sandbox, ready=False):
            pending.setdefault(baseline, []).append(route)
        for baseline, route in sorted(fork_routes(sandbox), key=lambda p: (p[0], p[1].fork)):
            taken = routes.setdefault(baseline, [])
            clash = next((r for r in taken if r.key == route.key), None)
            if clash is not None:
                conflicts.append(
                    f"{baseline}: sandbox {route.sandbox} (fork {route.fork.name}) has the key "
                    f"already routed to {clash.fork.name} of sandbox {clash.sandbox}; ignored"
                )
                continue
            taken.append(route)
    return RouteTable(
        routes={baseline: tuple(r) for baseline, r in routes.items()},
        conflicts=tuple(conflicts),
        pending={
            baseline: tuple(sorted(r, key=lambda r: r.fork)) for baseline, r in pending.items()
        },
    )
