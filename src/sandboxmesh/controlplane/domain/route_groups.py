"""Route groups' rules: how many an organisation may have, who may write them, and which
baselines their members conflict on (the same rule the route server applies in the cluster:
two members forking one baseline route the group's key there to neither fork)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sandboxmesh.controlplane.domain import roles
from sandboxmesh.spec.routegroup import GroupConflict
from sandboxmesh.spec.sandbox import ForkRef

#: Route groups an organisation may have at once (deleted ones not counted). Each is carried
#: to its cluster's agent and becomes an object there; a few per open pull request is plenty.
MAX_ROUTE_GROUPS_PER_ORG = 200


def may_write_route_groups(role: roles.Role) -> bool:
    """A group spans teams and changes none of their sandboxes (it adds a key that reaches
    forks already reachable by theirs): every member may write one, viewers may not."""
    return roles.at_least(role, roles.Role.MEMBER)


def conflicts(members: Iterable[tuple[str, Sequence[ForkRef]]]) -> list[GroupConflict]:
    """Baselines forked by several of `members` ((sandbox name, its forks' baselines)),
    each with those members by name; in a stable order."""
    by_baseline: dict[tuple[str, str, str], tuple[ForkRef, list[str]]] = {}
    for name, forks in members:
        for ref in forks:
            by_baseline.setdefault(ref.key(), (ref, []))[1].append(name)
    return [
        GroupConflict(baseline=ref, sandboxes=sorted(names))
        for _, (ref, names) in sorted(by_baseline.items())
        if len(names) > 1
    ]
