"""Route groups in the route table: one key, each hop to the fork of the member that forks it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tests.unit.routing.test_route_table import fork_status

from sandboxmesh.routing.core import envoy_resources, gateway_api, groups, istio, mesh, table, trace
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ForkRoute, GroupConflict, RouteTable, ServiceRef

KEY_A = "aaaaaaaaaa01"
KEY_B = "bbbbbbbbbb02"
KEY_C = "cccccccccc03"
GROUP_KEY = "gggggggggg42"
CHECKOUT = ServiceRef("shop", "checkout")
CART = ServiceRef("shop", "cart")


def sandbox(
    name: str,
    key: str,
    forks: list[dict[str, Any]],
    *,
    labels: dict[str, str] | None = None,
    spec_forks: tuple[str, ...] = (),
    phase: str = "Ready",
    deleting: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "spec": {
            "cluster": "c",
            "routingKey": key,
            "labels": labels or {},
            "forks": [
                {"forkOf": {"kind": "Deployment", "namespace": "shop", "name": b}}
                for b in spec_forks
            ],
        },
        "status": {"phase": phase, "ready": phase == "Ready", "forks": forks},
    }


def group(
    name: str = "pr-42", key: str = GROUP_KEY, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"routingKey": key, "selector": {"matchLabels": labels or {"pr": "42"}}},
    }


def build(sandboxes: list[dict[str, Any]], route_groups: list[dict[str, Any]]) -> RouteTable:
    return groups.route_table_for(
        [table.sandbox_view(s) for s in sandboxes],
        [groups.route_group_view(g) for g in route_groups],
    )


PR42 = {"pr": "42"}


def test_the_group_key_reaches_at_each_hop_the_fork_of_the_member_forking_it() -> None:
    result = build(
        [
            sandbox("web-42", KEY_A, [fork_status("checkout", "checkout-web-42")], labels=PR42),
            sandbox(
                "api-42", KEY_B, [fork_status("cart", "cart-api-42")], labels={**PR42, "t": "x"}
            ),
            sandbox(
                "other", KEY_C, [fork_status("checkout", "checkout-other")], labels={"pr": "7"}
            ),
        ],
        [group()],
    )
    assert result.routes_for(CHECKOUT) == (
        ForkRoute(KEY_C, "other", ServiceRef("shop", "checkout-other")),
        ForkRoute(KEY_A, "web-42", ServiceRef("shop", "checkout-web-42")),
        ForkRoute(GROUP_KEY, "web-42", ServiceRef("shop", "checkout-web-42"), group="pr-42"),
    )
    assert result.routes_for(CART) == (
        ForkRoute(KEY_B, "api-42", ServiceRef("shop", "cart-api-42")),
        ForkRoute(GROUP_KEY, "api-42", ServiceRef("shop", "cart-api-42"), group="pr-42"),
    )
    assert result.group_conflicts == ()
    assert result.to_json()["baselines"][0]["routes"][-1] == {
        "routingKey": GROUP_KEY,
        "sandbox": "api-42",
        "forkService": "cart-api-42",
        "routeGroup": "pr-42",
    }


def test_two_members_forking_one_baseline_route_neither_and_the_conflict_names_both() -> None:
    result = build(
        [
            sandbox("web-42", KEY_A, [fork_status("checkout", "checkout-web-42")], labels=PR42),
            sandbox(
                "api-42",
                KEY_B,
                [fork_status("checkout", "checkout-api-42"), fork_status("cart", "cart-api-42")],
                labels=PR42,
            ),
        ],
        [group()],
    )
    # The members' own keys still reach their forks; the group key, at checkout, nothing.
    assert [r.key for r in result.routes_for(CHECKOUT)] == [KEY_B, KEY_A]
    assert result.routes_for(CART)[-1] == ForkRoute(
        GROUP_KEY, "api-42", ServiceRef("shop", "cart-api-42"), group="pr-42"
    )
    assert result.group_conflicts == (
        GroupConflict(
            "pr-42",
            GROUP_KEY,
            ("Deployment", "shop", "checkout"),
            ("api-42", "web-42"),
            (CHECKOUT,),
        ),
    )
    assert result.to_json()["groupConflicts"] == [
        {
            "routeGroup": "pr-42",
            "baseline": "Deployment/shop/checkout",
            "sandboxes": ["api-42", "web-42"],
            "services": ["shop/checkout"],
        }
    ]
    assert trace.decide("baseline", GROUP_KEY, CHECKOUT, result) == (
        "baseline",
        trace.Reason.GROUP_CONFLICT.format(group="pr-42", sandboxes="api-42 and web-42"),
    )


def test_a_conflict_is_one_as_soon_as_the_specs_say_so_before_any_fork_exists() -> None:
    """Until resolved, the group key never reaches either fork, even while one is missing."""
    result = build(
        [
            sandbox("web-42", KEY_A, [fork_status("checkout", "checkout-web-42")], labels=PR42),
            sandbox("api-42", KEY_B, [], labels=PR42, spec_forks=("checkout",), phase="Pending"),
        ],
        [group()],
    )
    assert [r.group for r in result.routes_for(CHECKOUT)] == [None]
    (conflict,) = result.group_conflicts
    assert conflict.sandboxes == ("api-42", "web-42")


def test_members_being_deleted_hold_no_conflict_and_a_deleted_group_routes_nothing() -> None:
    forks = [fork_status("checkout", "checkout-web-42")]
    leaving = sandbox("api-42", KEY_B, [fork_status("checkout", "checkout-api-42")], labels=PR42)
    result = build(
        [
            sandbox("web-42", KEY_A, forks, labels=PR42),
            {**leaving, "status": {"phase": "Terminating", "forks": leaving["status"]["forks"]}},
        ],
        [group()],
    )
    assert result.group_conflicts == ()
    assert result.routes_for(CHECKOUT)[-1].group == "pr-42"
    gone = group()
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    result = build([sandbox("web-42", KEY_A, forks, labels=PR42)], [gone])
    assert [r.group for r in result.routes_for(CHECKOUT)] == [None]


def test_a_member_fork_not_ready_is_pending_for_the_group_key_too() -> None:
    result = build(
        [
            sandbox(
                "web-42",
                KEY_A,
                [fork_status("checkout", "checkout-web-42", ready=False)],
                labels=PR42,
                phase="Provisioning",
            )
        ],
        [group()],
    )
    assert result.routes_for(CHECKOUT) == ()
    assert {r.key for r in result.pending_for(CHECKOUT)} == {KEY_A, GROUP_KEY}
    assert trace.decide("baseline", GROUP_KEY, CHECKOUT, result) == (
        "baseline",
        trace.Reason.GROUP_NOT_READY.format(group="pr-42", sandbox="web-42"),
    )


def test_groups_and_sandboxes_are_read_in_any_order_with_the_same_table() -> None:
    objects = [
        sandbox("web-42", KEY_A, [fork_status("checkout", "checkout-web-42")], labels=PR42),
        sandbox("api-42", KEY_B, [fork_status("checkout", "checkout-api-42")], labels=PR42),
        sandbox("ui-7", KEY_C, [fork_status("checkout", "checkout-ui-7")], labels={"pr": "7"}),
    ]
    route_groups = [group(), group("pr-7", "gggggggggg07", {"pr": "7"})]
    first = build(objects, route_groups)
    assert build(objects[::-1], route_groups[::-1]) == first
    assert [r.rule_name for r in first.routes_for(CHECKOUT)] == [
        "api-42",
        "ui-7",
        "web-42",
        "pr-7.ui-7",
    ]


def test_a_group_key_already_routed_on_a_baseline_is_dropped_and_reported() -> None:
    result = build(
        [sandbox("web-42", GROUP_KEY, [fork_status("checkout", "checkout-web-42")], labels=PR42)],
        [group()],
    )
    assert result.routes_for(CHECKOUT) == (
        ForkRoute(GROUP_KEY, "web-42", ServiceRef("shop", "checkout-web-42")),
    )
    (clash,) = result.conflicts
    assert "route group pr-42" in clash
    assert GROUP_KEY not in clash  # keys stay out of messages that end up in logs


@pytest.mark.parametrize(
    "spec",
    [{}, {"selector": {}}, {"selector": {"matchLabels": {}}}, {"selector": "pr=42"}],
)
def test_a_group_without_match_labels_is_refused_not_read_as_matching_everything(
    spec: dict[str, Any],
) -> None:
    with pytest.raises(groups.InvalidRouteGroup):
        groups.route_group_view({"metadata": {"name": "g"}, "spec": spec})


def test_traces_and_renderers_tell_a_group_route_from_the_sandbox_route() -> None:
    route = ForkRoute(GROUP_KEY, "web-42", ServiceRef("shop", "checkout-web-42"), group="pr-42")
    name = envoy_resources.route_name(route, "baggage")
    assert name == "web-42|baggage|pr-42"
    assert trace.decide(name, GROUP_KEY, CHECKOUT, build([], [])) == (
        "web-42",
        trace.Reason.GROUP_KEY.format(group="pr-42"),
    )
    own = ForkRoute(KEY_A, "web-42", ServiceRef("shop", "checkout-web-42"))
    target = mesh.MeshRoutes(CHECKOUT, (80,), (own, route))
    headers = KeyHeaders()
    names = [rule["name"] for rule in istio.virtual_service(target, headers)["spec"]["http"]]
    assert names == [
        "web-42-header",
        "pr-42.web-42-header",
        "web-42-baggage",
        "pr-42.web-42-baggage",
        "baseline",
    ]
    (http_route,) = gateway_api.http_routes(target, headers)
    rule_names = [rule["name"] for rule in http_route["spec"]["rules"]]
    assert len(set(rule_names)) == len(rule_names)


def test_a_group_key_no_member_forks_here_says_so_in_a_trace() -> None:
    result = build(
        [sandbox("api-42", KEY_B, [fork_status("cart", "cart-api-42")], labels=PR42)], [group()]
    )
    assert trace.decide("baseline", GROUP_KEY, CHECKOUT, result) == (
        "baseline",
        trace.Reason.GROUP_NOT_FORKED.format(group="pr-42"),
    )


def test_one_service_in_front_of_two_members_different_workloads_is_a_conflict_too() -> None:
    web = fork_status("checkout", "shop-web-42")
    api = fork_status("checkout-v2", "shop-api-42")
    for fork in (web, api):
        fork["objects"][1]["baseline"] = "shop"  # both Deployments behind Service `shop`
    result = build(
        [
            sandbox("web-42", KEY_A, [web], labels=PR42),
            sandbox("api-42", KEY_B, [api], labels=PR42),
        ],
        [group()],
    )
    shop = ServiceRef("shop", "shop")
    assert [r.group for r in result.routes_for(shop)] == [None, None]
    (conflict,) = result.group_conflicts
    assert (conflict.baseline, conflict.sandboxes) == (
        ("Service", "shop", "shop"),
        ("api-42", "web-42"),
    )
    status = groups.group_status(
        groups.route_group_view(group()),
        [table.sandbox_view(o) for o in ()],
        result.group_conflicts,
        now=datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert str(status.conflicts[0].baseline) == "Service/shop/shop"
    assert status.conditions[0].status == "True"


def test_a_groups_status_names_members_and_keeps_its_condition_time_while_it_holds() -> None:
    views = [
        table.sandbox_view(o)
        for o in (
            sandbox("web-42", KEY_A, [fork_status("checkout", "checkout-web-42")], labels=PR42),
            sandbox("api-42", KEY_B, [fork_status("cart", "cart-api-42")], labels=PR42),
            sandbox("ui-7", KEY_C, [], labels={"pr": "7"}),
        )
    ]
    view = groups.route_group_view({**group(), "metadata": {"name": "pr-42", "generation": 3}})
    first = groups.group_status(view, views, (), now=datetime(2026, 12, 7, tzinfo=UTC))
    assert first.members == ["api-42", "web-42"]
    assert first.observed_generation == 3
    (condition,) = first.conditions
    assert (condition.type, condition.status, condition.reason) == (
        "Conflict",
        "False",
        "NoConflict",
    )
    later = groups.group_status(
        view, views, (), previous=first.conditions, now=datetime(2026, 12, 8, tzinfo=UTC)
    )
    assert later == first  # nothing to write again
