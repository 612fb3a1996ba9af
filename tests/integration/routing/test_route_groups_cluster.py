"""Route groups end to end on the routing side: RouteGroup and Sandbox objects in a real API
server, the route server watching them, real Envoy routing requests with the group's key,
and the group's status (members, conflicts) written back by the route server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from tests.integration.routing.conftest import StartDataPlane
from tests.integration.routing.operator_double import OperatorDouble
from tests.support.eventually import eventually, stays

from sandboxmesh import kube
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = pytest.mark.cluster


@pytest.fixture
def operator_double(kube_client: Client, namespace: str) -> Iterator[OperatorDouble]:
    double = OperatorDouble(kube_client, namespace)
    try:
        yield double
    finally:
        double.cleanup()


@pytest.fixture
def route_groups(kube_client: Client) -> Iterator[list[str]]:
    created: list[str] = []
    try:
        yield created
    finally:
        for name in created:
            try:
                kube_client.delete(kube.RouteGroup, name)
            except ApiError as error:
                if error.status.code != 404:
                    raise


def group_key(key: str) -> list[tuple[str, str]]:
    return [("baggage", f"userId=alice,sandboxmesh-routing-key={key}")]


def test_a_group_key_reaches_each_members_fork_and_a_conflict_the_baseline(
    kube_target: KubeTarget,
    kube_client: Client,
    namespace: str,
    operator_double: OperatorDouble,
    route_groups: list[str],
    start_data_plane: StartDataPlane,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    web, api, late = f"web-{suffix}", f"api-{suffix}", f"late-{suffix}"
    key_web, key_api, key_late, key_group = (
        f"w{suffix}00000",
        f"a{suffix}00000",
        f"l{suffix}00000",
        f"g{suffix}00000",
    )
    pr = {"pr": suffix}
    plane = start_data_plane(
        ["checkout", "cart"],
        [f"checkout-{web}", f"cart-{api}", f"checkout-{late}"],
        kubeconfig=kube_target.kubeconfig,
        namespace=namespace,
    )
    eventually(lambda: plane.http("/readyz").status_code == 200, timeout=10, what="synced")

    # Two members across "repositories": web forks checkout, api forks cart.
    operator_double.create_sandbox(web, key_web, ["checkout"], labels=pr)
    operator_double.create_sandbox(api, key_api, ["cart"], labels={**pr, "repo": "api"})
    operator_double.write_status(web, key_web, {"checkout": True})
    operator_double.write_status(api, key_api, {"cart": True})
    group = f"pr-{suffix}"
    kube_client.create(
        kube.RouteGroup(
            metadata=ObjectMeta(name=group),
            spec={"routingKey": key_group, "selector": {"matchLabels": pr}},
        )
    )
    route_groups.append(group)

    eventually(
        lambda: (
            plane.served_by("checkout", group_key(key_group)) == f"checkout-{web}"
            and plane.served_by("cart", group_key(key_group)) == f"cart-{api}"
        ),
        timeout=10,
        what="the group's key routed to each member's fork",
    )
    assert plane.served_by("checkout", group_key(key_api)) == "checkout"  # api forks cart only
    assert plane.served_by("checkout") == "checkout"

    def status() -> dict[str, Any]:
        body = kube.to_dict(kube_client.get(kube.RouteGroup, group))
        found: dict[str, Any] = body.get("status") or {}
        return found

    written = eventually(
        lambda: (s := status()).get("members") == sorted([api, web]) and s,
        timeout=10,
        what="the group's members in its status",
    )
    (condition,) = written["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "Conflict",
        "False",
        "NoConflict",
    )
    # Written once: the route server's own write (a watch event) changes nothing more.
    version = kube.to_dict(kube_client.get(kube.RouteGroup, group))["metadata"]["resourceVersion"]
    stays(
        lambda: (
            kube.to_dict(kube_client.get(kube.RouteGroup, group))["metadata"]["resourceVersion"]
            == version
        ),
        during=2,
        what="the group's status unchanged",
    )

    # A third member forks checkout too: a conflict, so checkout gets the group's key.
    operator_double.create_sandbox(late, key_late, ["checkout"], labels=pr)
    operator_double.write_status(late, key_late, {"checkout": True})
    eventually(
        lambda: plane.served_by("checkout", group_key(key_group)) == "checkout",
        timeout=10,
        what="the conflicting baseline routed to neither fork",
    )
    assert plane.served_by("cart", group_key(key_group)) == f"cart-{api}"
    # The conflict holds from the late sandbox's spec on; its own route from its status on.
    eventually(
        lambda: plane.served_by("checkout", group_key(key_late)) == f"checkout-{late}",
        timeout=10,
        what="the late sandbox's own key routed",
    )
    assert plane.served_by("checkout", group_key(key_web)) == f"checkout-{web}"
    conflicted = eventually(
        lambda: (s := status()).get("conflicts") and s,
        timeout=10,
        what="the conflict in the group's status",
    )
    assert conflicted["conflicts"] == [
        {
            "baseline": {"kind": "Deployment", "namespace": namespace, "name": "checkout"},
            "sandboxes": sorted([late, web]),
        }
    ]
    (condition,) = conflicted["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "Conflict",
        "True",
        "SameBaselineForked",
    )
    assert late in condition["message"]
    assert web in condition["message"]
    assert "sandboxmesh_route_group_conflicts 1.0" in plane.http("/metrics").text
    routes = plane.http("/v1/routes").json()
    assert [c["sandboxes"] for c in routes["groupConflicts"] if c["routeGroup"] == group] == [
        sorted([late, web])
    ]

    # Resolved: the late sandbox leaves; the group's key reaches web's fork again.
    operator_double.delete_sandbox(late)
    eventually(
        lambda: plane.served_by("checkout", group_key(key_group)) == f"checkout-{web}",
        timeout=10,
        what="the group's key routed again once the conflict is resolved",
    )
    eventually(
        lambda: status().get("conflicts") == [],
        timeout=10,
        what="the conflict gone from the group's status",
    )

    # The group deleted: its key routes nowhere.
    kube_client.delete(kube.RouteGroup, group)
    eventually(
        lambda: (
            plane.served_by("checkout", group_key(key_group)) == "checkout"
            and plane.served_by("cart", group_key(key_group)) == "cart"
        ),
        timeout=10,
        what="the group's routes withdrawn",
    )
