"""Placement B's pure part: stages, refusals, router objects and the selector patches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandboxmesh.routing.core import fronts, routers
from sandboxmesh.routing.core.routers import Refused, RouterSettings, Stage


def service(
    *,
    annotations: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    kind: str = "ClusterIP",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "uid": "u-1",
            "resourceVersion": "42",
            "annotations": annotations or {},
        },
        "spec": {
            "type": kind,
            "selector": {"app": "checkout"} if selector is None else selector,
            "ports": ports or [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


ROUTE = {routers.ANNOTATION_ROUTE: "true"}
KEPT = {routers.ANNOTATION_BASELINE_SELECTOR: '{"app": "checkout"}'}
ROUTER_SELECTOR = {routers.LABEL_ROUTER: "checkout"}


def test_stages_follow_the_annotation_and_the_selector() -> None:
    assert routers.stage(service()) is Stage.UNROUTED
    assert routers.stage(service(annotations=ROUTE)) is Stage.INSTALLING
    routed = service(annotations={**ROUTE, **KEPT}, selector=ROUTER_SELECTOR)
    assert routers.stage(routed) is Stage.ROUTED
    assert routers.stage(service(annotations=KEPT, selector=ROUTER_SELECTOR)) is Stage.REMOVING
    # A GitOps tool put the selector back: install again, from the selector it wrote.
    reverted = service(annotations={**ROUTE, **KEPT}, selector={"app": "checkout", "v": "2"})
    assert routers.stage(reverted) is Stage.INSTALLING
    assert routers.original_selector(reverted) == {"app": "checkout", "v": "2"}
    assert routers.original_selector(routed) == {"app": "checkout"}


@pytest.mark.parametrize(
    "bad",
    [
        service(selector={}),
        service(kind="ExternalName"),
        service(ports=[{"port": 53, "protocol": "UDP"}]),
        service(ports=[{"port": 80, "targetPort": routers.ADMIN_PORT}]),
    ],
    ids=["no-selector", "external-name", "udp", "admin-port"],
)
def test_services_that_cannot_be_routed_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(Refused):
        routers.router_objects(bad, RouterSettings())


def test_router_objects_front_every_port_via_the_baseline_copy() -> None:
    svc = service(
        annotations=ROUTE,
        ports=[
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "grpc", "port": 9090, "targetPort": 9090, "appProtocol": "kubernetes.io/h2c"},
            {"name": "low", "port": 81, "targetPort": 81},
        ],
    )
    copy, config, deployment, budget = routers.router_objects(svc, RouterSettings(replicas=3))
    assert copy["metadata"]["name"] == "checkout-sandboxmesh-baseline"
    assert copy["spec"]["selector"] == {"app": "checkout"}
    assert copy["spec"]["ports"][1]["appProtocol"] == "kubernetes.io/h2c"
    for obj in (copy, config, deployment, budget):
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        assert obj["metadata"]["labels"][routers.LABEL_ROUTER] == "checkout"
    document = json.loads(config["data"][routers.BOOTSTRAP_FILE])
    listed = fronts.fronts_from_metadata(document["node"]["metadata"])
    assert [(f.port, f.listen_port, f.baseline_host, f.baseline_port) for f in listed] == [
        (80, routers.NAMED_PORT_BASE, "checkout-sandboxmesh-baseline.shop.svc.cluster.local", 80),
        (9090, 9090, "checkout-sandboxmesh-baseline.shop.svc.cluster.local", 9090),
        (81, 81, "checkout-sandboxmesh-baseline.shop.svc.cluster.local", 81),
    ]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] == 3
    assert pod["metadata"]["labels"][routers.LABEL_ROUTER] == "checkout"
    (container,) = pod["spec"]["containers"]
    assert {p.get("name"): p["containerPort"] for p in container["ports"]} == {
        "http": routers.NAMED_PORT_BASE,
        None: 81,
        "admin": routers.ADMIN_PORT,
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["args"][:2] == ["-c", f"/etc/sandboxmesh/{routers.BOOTSTRAP_FILE}"]
    assert pod["spec"]["volumes"] == [
        {"name": "bootstrap", "configMap": {"name": "checkout-sandboxmesh-router"}}
    ]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # Port 81 is privileged: the safe sysctl lets the non-root router bind it.
    assert pod["spec"]["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
    ]
    assert budget["spec"]["minAvailable"] == 1


def test_selector_patches_are_guarded_and_reversible() -> None:
    svc = service(annotations=ROUTE)
    forward = routers.switch_to_routers(svc)
    assert forward[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert {"op": "replace", "path": "/spec/selector", "value": ROUTER_SELECTOR} in forward
    assert {
        "op": "add",
        "path": "/metadata/annotations/sandboxmesh.io~1baseline-selector",
        "value": '{"app": "checkout"}',
    } in forward
    routed = service(annotations={**ROUTE, **KEPT}, selector=ROUTER_SELECTOR)
    back = routers.switch_to_baseline(routed)
    assert {"op": "replace", "path": "/spec/selector", "value": {"app": "checkout"}} in back
    assert back[-1]["op"] == "remove"
    bare = service()
    bare["metadata"].pop("annotations")
    assert routers.switch_to_routers(bare)[1] == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": {},
    }
