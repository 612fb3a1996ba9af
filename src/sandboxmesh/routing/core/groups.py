"""Route groups in the route table: a group's key routes each baseline to its one member's fork.

A group (a RouteGroup object: a routing key and a label selector) has as members the live
sandboxes whose `spec.labels` the selector matches. For each baseline workload that members
fork (from their specs and their status, whichever names it):

- one member forks it: the group's key routes each of that baseline's Services to the
  member's fork Service, under the same readiness rule as the member's own key (a fork
  not ready yet is `pending`, never routed to);
- several members fork it: a conflict. The group's key routes that baseline to neither fork
  (requests with it get the baseline) until it is resolved, and the conflict names the
  members, for the group's status and for route traces. So does a baseline Service to which
  the forks of different members' workloads would answer.

A sandbox being deleted or Terminating is no member: its routes are withdrawn anyway, and
it must not hold a conflict open on its way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sandboxmesh.routing.core import matching, table
from sandboxmesh.routing.core.table import (
    SERVICE_API_VERSION,
    SERVICE_KIND,
    Baseline,
    ForkRoute,
    GroupConflict,
    RouteTable,
    SandboxView,
    ServiceRef,
)
from sandboxmesh.spec import conditions, routegroup
from sandboxmesh.spec.names import routed_service
from sandboxmesh.spec.sandbox import ForkRef
from sandboxmesh.spec.status import Condition, ForkStatus


@dataclass(frozen=True)
class RouteGroupView:
    """What the route table needs of one RouteGroup object."""

    name: str
    routing_key: str | None
    match_labels: tuple[tuple[str, str], ...]
    deleting: bool = False
    #: The object's metadata.generation, which its status says it observed.
    generation: int | None = None

    def selects(self, sandbox: SandboxView) -> bool:
        labels = dict(sandbox.labels)
        return bool(self.match_labels) and all(labels.get(k) == v for k, v in self.match_labels)


@dataclass(frozen=True)
class GroupRouting:
    """What one group adds to the route table."""

    routes: tuple[tuple[ServiceRef, ForkRoute], ...]
    pending: tuple[tuple[ServiceRef, ForkRoute], ...]
    conflicts: tuple[GroupConflict, ...]


class InvalidRouteGroup(ValueError):
    """A RouteGroup object that does not parse; it routes nothing."""


def route_group_view(obj: Mapping[str, Any]) -> RouteGroupView:
    """Read a RouteGroup object (as the API server returns it, a JSON dict)."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", ""))
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(labels, dict) or not labels:
        raise InvalidRouteGroup(f"route group {name}: no selector.matchLabels")
    key = spec.get("routingKey")
    return RouteGroupView(
        name=name,
        routing_key=key if isinstance(key, str) else None,
        match_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        deleting=bool(metadata.get("deletionTimestamp")),
        generation=generation
        if isinstance(generation := metadata.get("generation"), int)
        else None,
    )


def members(group: RouteGroupView, sandboxes: Iterable[SandboxView]) -> list[SandboxView]:
    """The group's members, by name: live sandboxes its selector matches."""
    return sorted((s for s in sandboxes if s.live and group.selects(s)), key=lambda s: s.name)


def _baselines(sandbox: SandboxView) -> dict[Baseline, list[ForkStatus]]:
    """The baselines a sandbox forks, each with its forks' status (empty before any)."""
    found: dict[Baseline, list[ForkStatus]] = {ref: [] for ref in sandbox.forks_of}
    for fork in sandbox.status.forks if sandbox.status is not None else []:
        found.setdefault(fork.fork_of.key(), []).append(fork)
    return found


def _service_pairs(fork: ForkStatus) -> list[tuple[ServiceRef, ServiceRef]]:
    """(baseline Service, fork Service) for each fork Service of one fork."""
    pairs = []
    for obj in fork.objects:
        if obj.kind != SERVICE_KIND or obj.api_version != SERVICE_API_VERSION:
            continue
        if not obj.baseline or obj.baseline == obj.name:
            continue  # a route to itself would loop
        pairs.append(
            (
                ServiceRef(obj.namespace, routed_service(obj.baseline)),
                ServiceRef(obj.namespace, obj.name),
            )
        )
    return pairs


def group_routing(group: RouteGroupView, sandboxes: Iterable[SandboxView]) -> GroupRouting:
    """What `group` adds to the route table (see the module docstring); deterministic."""
    if group.deleting or group.routing_key is None:
        return GroupRouting((), (), ())
    try:
        key = matching.check_key(group.routing_key)
    except matching.InvalidRoutingKey:
        return GroupRouting((), (), ())
    forkers: dict[Baseline, list[tuple[SandboxView, list[ForkStatus]]]] = {}
    for member in members(group, sandboxes):
        for baseline, forks in _baselines(member).items():
            forkers.setdefault(baseline, []).append((member, forks))
    routes: list[tuple[ServiceRef, ForkRoute]] = []
    pending: list[tuple[ServiceRef, ForkRoute]] = []
    conflicts: list[GroupConflict] = []
    for baseline in sorted(forkers):
        forking = forkers[baseline]
        if len(forking) > 1:
            services = {
                service
                for _, forks in forking
                for fork in forks
                for service, _ in _service_pairs(fork)
            }
            conflicts.append(
                GroupConflict(
                    group.name,
                    key,
                    baseline,
                    tuple(member.name for member, _ in forking),
                    tuple(sorted(services)),
                )
            )
            continue
        ((member, forks),) = forking
        for fork in forks:
            for service, fork_service in _service_pairs(fork):
                route = ForkRoute(key, member.name, fork_service, group=group.name)
                (routes if fork.ready else pending).append((service, route))
    # One Service in front of two members' different workloads: the key cannot choose there
    # either (rare: a Service selecting the Pods of two forked Deployments).
    by_service: dict[ServiceRef, set[str]] = {}
    for service, route in (*routes, *pending):
        by_service.setdefault(service, set()).add(route.sandbox)
    shared = {service: names for service, names in by_service.items() if len(names) > 1}
    for service, names in sorted(shared.items()):
        conflicts.append(
            GroupConflict(
                group.name,
                key,
                (SERVICE_KIND, service.namespace, service.name),
                tuple(sorted(names)),
                (service,),
            )
        )
    routes = [(service, route) for service, route in routes if service not in shared]
    pending = [(service, route) for service, route in pending if service not in shared]
    return GroupRouting(tuple(routes), tuple(pending), tuple(conflicts))


def route_table_for(
    sandboxes: Iterable[SandboxView], groups: Iterable[RouteGroupView] = ()
) -> RouteTable:
    """The route table of sandboxes and route groups; deterministic whatever their order.

    Each baseline's routes: its sandboxes' own (table.route_table_for), then the groups',
    by group name. A group key that an earlier route of the baseline already has (keys are
    unique by contract) is dropped and reported like any clash of keys.
    """
    views = list(sandboxes)
    base = table.route_table_for(views)
    routes = {baseline: list(r) for baseline, r in base.routes.items()}
    pending = {baseline: list(r) for baseline, r in base.pending.items()}
    clashes = list(base.conflicts)
    group_conflicts: list[GroupConflict] = []
    for group in sorted(groups, key=lambda g: g.name):
        routing = group_routing(group, views)
        group_conflicts.extend(routing.conflicts)
        for baseline, route in routing.pending:
            pending.setdefault(baseline, []).append(route)
        for baseline, route in routing.routes:
            taken = routes.setdefault(baseline, [])
            clash = next((r for r in taken if r.key == route.key), None)
            if clash is not None:
                clashes.append(
                    f"{baseline}: route group {group.name} (fork {route.fork.name} of sandbox "
                    f"{route.sandbox}) has a key already routed to {clash.fork.name}; ignored"
                )
                continue
            taken.append(route)
    return replace(
        base,
        routes={baseline: tuple(r) for baseline, r in routes.items()},
        pending={baseline: tuple(r) for baseline, r in pending.items()},
        conflicts=tuple(clashes),
        group_conflicts=tuple(group_conflicts),
    )


def group_status(
    group: RouteGroupView,
    sandboxes: Iterable[SandboxView],
    conflicts: Iterable[GroupConflict],
    *,
    previous: Sequence[Condition] = (),
    now: datetime,
) -> routegroup.RouteGroupStatus:
    """The status the route server writes on a RouteGroup: its members, its conflicts (those
    of the route table that are this group's), and the `Conflict` condition naming them.
    `previous` conditions keep their lastTransitionTime while their status holds."""
    own = [c for c in conflicts if c.group == group.name]
    reported = [
        routegroup.GroupConflict(
            baseline=ForkRef(kind=c.baseline[0], namespace=c.baseline[1], name=c.baseline[2]),
            sandboxes=list(c.sandboxes),
        )
        for c in own
    ]
    if reported:
        marked = conditions.mark_true(
            previous,
            routegroup.RouteGroupConditionType.CONFLICT,
            routegroup.RouteGroupReason.SAME_BASELINE_FORKED,
            "; ".join(c.message() for c in reported),
            now=now,
            observed_generation=group.generation,
        )
    else:
        marked = conditions.mark_false(
            previous,
            routegroup.RouteGroupConditionType.CONFLICT,
            routegroup.RouteGroupReason.NO_CONFLICT,
            "no two members fork the same baseline",
            now=now,
            observed_generation=group.generation,
        )
    return routegroup.RouteGroupStatus(
        members=[m.name for m in members(group, sandboxes)],
        conflicts=reported,
        conditions=marked,
        observed_generation=group.generation,
    )
