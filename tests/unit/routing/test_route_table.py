from __future__ import annotations

from typing import Any

import pytest

from sandboxmesh.routing.core import table
from sandboxmesh.routing.core.table import ForkRoute, ServiceRef
from sandboxmesh.spec import names

KEY_A = "aaaaaaaaaa01"
KEY_B = "bbbbbbbbbb02"


def fork_status(
    baseline: str, fork_service: str | None, *, ready: bool = True, namespace: str = "shop"
) -> dict[str, Any]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": namespace,
            "name": f"{baseline}-fork",
            "baseline": baseline,
        }
    ]
    if fork_service:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "namespace": namespace,
                "name": fork_service,
                "baseline": baseline,
            }
        )
    return {
        "forkOf": {"kind": "Deployment", "namespace": namespace, "name": baseline},
        "objects": objects,
        "ready": ready,
        "readyReplicas": 1 if ready else 0,
    }


def sandbox(
    name: str,
    key: str | None,
    forks: list[dict[str, Any]],
    *,
    phase: str = "Ready",
    deleting: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"cluster": "c", "forks": []}
    if key:
        spec["routingKey"] = key
    return {
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": phase, "ready": phase == "Ready", "forks": forks},
    }


def build(*objects: dict[str, Any]) -> table.RouteTable:
    return table.route_table_for(table.sandbox_view(o) for o in objects)


def test_each_ready_fork_service_routes_its_key_from_its_baseline() -> None:
    result = build(
        sandbox("pr-1", KEY_A, [fork_status("checkout", "checkout-pr-1")]),
        sandbox(
            "pr-2",
            KEY_B,
            [fork_status("checkout", "checkout-pr-2"), fork_status("cart", "cart-pr-2")],
        ),
    )
    assert result.routes_for(ServiceRef("shop", "checkout")) == (
        ForkRoute(KEY_A, "pr-1", ServiceRef("shop", "checkout-pr-1")),
        ForkRoute(KEY_B, "pr-2", ServiceRef("shop", "checkout-pr-2")),
    )
    assert result.routes_for(ServiceRef("shop", "cart")) == (
        ForkRoute(KEY_B, "pr-2", ServiceRef("shop", "cart-pr-2")),
    )
    assert result.routes_for(ServiceRef("shop", "payments")) == ()
    assert result.route_count() == 3
    assert result.conflicts == ()


def test_a_fork_not_ready_has_no_route_but_its_ready_sibling_keeps_one() -> None:
    # The sandbox as a whole is Provisioning (one fork rolls out): the ready fork still routes.
    result = build(
        sandbox(
            "pr-1",
            KEY_A,
            [
                fork_status("checkout", "checkout-pr-1"),
                fork_status("cart", "cart-pr-1", ready=False),
            ],
            phase="Provisioning",
        )
    )
    assert result.baselines() == [ServiceRef("shop", "checkout")]
    # Not routed, but known: its cluster can be made ahead of its route.
    assert result.pending == {
        ServiceRef("shop", "cart"): (ForkRoute(KEY_A, "pr-1", ServiceRef("shop", "cart-pr-1")),)
    }
    assert result.to_json()["baselines"][0]["service"] == "checkout"  # pending is not served


@pytest.mark.parametrize(
    "obj",
    [
        sandbox("gone", KEY_A, [fork_status("checkout", "checkout-gone")], deleting=True),
        sandbox("ending", KEY_A, [fork_status("checkout", "checkout-x")], phase="Terminating"),
        sandbox("nokey", None, [fork_status("checkout", "checkout-nokey")]),
        sandbox("badkey", "NOT-A-KEY", [fork_status("checkout", "checkout-badkey")]),
        sandbox("nosvc", KEY_A, [fork_status("worker", None)]),
        sandbox("self", KEY_A, [fork_status("checkout", "checkout")]),
        {"metadata": {"name": "fresh"}, "spec": {"routingKey": KEY_A}},
    ],
    ids=["deleting", "terminating", "no-key", "bad-key", "no-service", "self-loop", "no-status"],
)
def test_sandboxes_that_must_not_route(obj: dict[str, Any]) -> None:
    assert build(obj).routes == {}


@pytest.mark.parametrize(
    "obj",
    [
        sandbox("gone", KEY_A, [fork_status("checkout", "checkout-gone", ready=False)],
                deleting=True),
        sandbox("ending", KEY_A, [fork_status("checkout", "checkout-x", ready=False)],
                phase="Terminating"),
        sandbox("nokey", None, [fork_status("checkout", "checkout-nokey", ready=False)]),
    ],
    ids=["deleting", "terminating", "no-key"],
)  # fmt: skip
def test_forks_of_sandboxes_that_must_not_route_are_not_pending_either(
    obj: dict[str, Any],
) -> None:
    assert build(obj).pending == {}


def test_namespaces_keep_baselines_apart() -> None:
    result = build(
        sandbox(
            "pr-1",
            KEY_A,
            [
                fork_status("checkout", "checkout-pr-1", namespace="shop"),
                fork_status("checkout", "checkout-pr-1", namespace="staging"),
            ],
        )
    )
    assert result.baselines() == [ServiceRef("shop", "checkout"), ServiceRef("staging", "checkout")]


def test_a_duplicated_key_keeps_the_first_sandbox_by_name_and_reports_it() -> None:
    first = sandbox("a-first", KEY_A, [fork_status("checkout", "checkout-a")])
    second = sandbox("b-second", KEY_A, [fork_status("checkout", "checkout-b")])
    for ordering in ([first, second], [second, first]):
        result = build(*ordering)
        assert result.routes_for(ServiceRef("shop", "checkout")) == (
            ForkRoute(KEY_A, "a-first", ServiceRef("shop", "checkout-a")),
        )
        (conflict,) = result.conflicts
        assert "b-second" in conflict
        assert KEY_A not in conflict  # keys stay out of messages that end up in logs


def test_a_status_that_does_not_parse_is_refused() -> None:
    with pytest.raises(table.InvalidSandbox):
        table.sandbox_view({"metadata": {"name": "x"}, "spec": {}, "status": {"phase": "Exploded"}})


def test_json_form_is_stable() -> None:
    result = build(
        sandbox("pr-2", KEY_B, [fork_status("checkout", "checkout-pr-2")]),
        sandbox("pr-1", KEY_A, [fork_status("cart", "cart-pr-1")]),
    )
    assert result.to_json() == {
        "baselines": [
            {
                "namespace": "shop",
                "service": "cart",
                "routes": [{"routingKey": KEY_A, "sandbox": "pr-1", "forkService": "cart-pr-1"}],
            },
            {
                "namespace": "shop",
                "service": "checkout",
                "routes": [
                    {"routingKey": KEY_B, "sandbox": "pr-2", "forkService": "checkout-pr-2"}
                ],
            },
        ],
        "conflicts": [],
        "groupConflicts": [],
    }


def test_a_fork_of_a_router_copy_serves_the_routed_service() -> None:
    """Behind routers, the operator forks the -sandboxmesh-baseline copy (the Service that
    selects the baseline's Pods); its fork takes over the original Service's traffic."""
    result = build(
        sandbox(
            "pr-1",
            KEY_A,
            [
                fork_status(
                    "checkout-sandboxmesh-baseline", "checkout-sandboxmesh-baseline-sbx-pr-1"
                )
            ],
        )
    )
    assert result.routes_for(ServiceRef("shop", "checkout")) == (
        ForkRoute(KEY_A, "pr-1", ServiceRef("shop", "checkout-sandboxmesh-baseline-sbx-pr-1")),
    )
    assert names.routed_service("-sandboxmesh-baseline") == "-sandboxmesh-baseline"
