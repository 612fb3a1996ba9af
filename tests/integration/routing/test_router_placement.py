"""Placement B in the real local cluster: routers put in front of an opted-in Service and taken
away again, with the Service never left without Ready endpoints.

KWOK runs the Pods, so Envoy itself does not run here (the data plane tests run it); what is
tested is the Kubernetes side: objects, ordering, and the Service's endpoints over time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Service
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.types import PatchType
from tests.integration.routing.operator_double import SandboxResource
from tests.support.eventually import eventually
from tests.support.kube import apply_baseline

from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.routing.controllers.router_placement import RouterControllerSettings
from sandboxmesh.routing.core import fronts, routers
from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.routing.server import RouteServerSettings, RouteServerThread

pytestmark = pytest.mark.cluster
ROUTER_PREFIX = "checkout-sandboxmesh-router-"


@pytest.fixture
def route_server(kube_target: KubeTarget) -> Iterator[RouteServerThread]:
    settings = RouteServerSettings(
        watch=True,
        kubeconfig=kube_target.kubeconfig,
        routers=RouterControllerSettings(drain_seconds=0.5),
    )
    with RouteServerThread(settings) as server:
        yield server


def endpoint_pods(client: Client, namespace: str, service: str) -> set[str]:
    slices = client.list(
        EndpointSlice, namespace=namespace, labels={"kubernetes.io/service-name": service}
    )
    return {
        e.targetRef.name
        for s in slices
        for e in (s.endpoints or [])
        if e.targetRef and e.targetRef.name and (e.conditions is None or e.conditions.ready)
    }


@dataclass
class EndpointHistory:
    """Ready endpoints of one Service after every EndpointSlice event, from a watch."""

    counts: list[int] = field(default_factory=list)
    pods: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)


def watch_endpoints(kube_target: KubeTarget, namespace: str, service: str) -> EndpointHistory:
    history = EndpointHistory()

    def run() -> None:
        client = kube_target.client()
        try:
            follow(client)
        except Exception:
            if not history.stop.is_set():  # the test reads an incomplete history then
                history.counts.append(-1)
        finally:
            client.close()

    def follow(client: Client) -> None:
        slices: dict[str, list[str]] = {}
        for event, item in client.watch(
            EndpointSlice, namespace=namespace, labels={"kubernetes.io/service-name": service}
        ):
            name = item.metadata.name
            if event == "DELETED":
                slices.pop(name, None)
            else:
                slices[name] = [
                    e.targetRef.name
                    for e in (item.endpoints or [])
                    if e.targetRef and (e.conditions is None or e.conditions.ready)
                ]
            history.pods.update(*slices.values())
            history.counts.append(sum(len(v) for v in slices.values()))
            if history.stop.is_set():
                return

    threading.Thread(target=run, daemon=True).start()
    return history


def get_service(client: Client, namespace: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = client.get(Service, name, namespace=namespace).to_dict()
    return result


def annotate(client: Client, namespace: str, name: str, value: str | None) -> None:
    client.patch(
        Service,
        name,
        {"metadata": {"annotations": {routers.ANNOTATION_ROUTE: value}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


def gone(client: Client, resource: Any, namespace: str, name: str) -> bool:
    try:
        client.get(resource, name, namespace=namespace)
    except ApiError as error:
        return error.status.code == 404
    return False


def test_routers_go_in_front_and_away_without_the_service_losing_endpoints(
    kube_target: KubeTarget, kube_client: Client, namespace: str, route_server: RouteServerThread
) -> None:
    apply_baseline(kube_client, namespace, "checkout", replicas=2)
    baseline_pods = eventually(
        lambda: (p := endpoint_pods(kube_client, namespace, "checkout")) and len(p) == 2 and p,
        timeout=60,
        what="two ready baseline endpoints",
    )
    history = watch_endpoints(kube_target, namespace, "checkout")
    eventually(lambda: history.counts, timeout=10, what="the endpoint watch started")

    annotate(kube_client, namespace, "checkout", "true")
    routed = eventually(
        lambda: (
            (s := get_service(kube_client, namespace, "checkout"))["spec"]["selector"]
            == {routers.LABEL_ROUTER: "checkout"}
            and s
        ),
        timeout=60,
        what="the Service switched to its routers",
    )
    assert json.loads(routed["metadata"]["annotations"][routers.ANNOTATION_BASELINE_SELECTOR]) == {
        "app": "checkout"
    }
    copy = get_service(kube_client, namespace, "checkout-sandboxmesh-baseline")
    assert copy["spec"]["selector"] == {"app": "checkout"}
    assert copy["metadata"]["ownerReferences"][0]["uid"] == routed["metadata"]["uid"]
    router_pods = eventually(
        lambda: (
            (p := endpoint_pods(kube_client, namespace, "checkout"))
            and all(n.startswith(ROUTER_PREFIX) for n in p)
            and len(p) == 2
            and p
        ),
        timeout=60,
        what="the Service's endpoints are the routers",
    )
    # The EndpointSlice controller may list one Pod before the other: wait for both.
    eventually(
        lambda: (
            endpoint_pods(kube_client, namespace, "checkout-sandboxmesh-baseline") == baseline_pods
        ),
        timeout=30,
        what="the baseline copy's endpoints",
    )
    config = kube_client.get(ConfigMap, "checkout-sandboxmesh-router", namespace=namespace)
    document = json.loads(config.data[routers.BOOTSTRAP_FILE])
    (front,) = fronts.fronts_from_metadata(document["node"]["metadata"])
    assert (front.service, front.port, front.listen_port, front.baseline_port) == (
        "checkout",
        80,
        routers.NAMED_PORT_BASE,
        80,
    )
    assert front.baseline_host == f"checkout-sandboxmesh-baseline.{namespace}.svc.cluster.local"
    router = kube_client.get(Deployment, "checkout-sandboxmesh-router", namespace=namespace)
    (container,) = router.spec.template.spec.containers
    assert {p.name: p.containerPort for p in container.ports} == {"http": 10080, "admin": 9901}
    eventually(
        lambda: (
            get_service(kube_client, namespace, "checkout")["metadata"]["annotations"].get(
                routers.ANNOTATION_ROUTE_STATUS
            )
            == "Routed"
        ),
        timeout=30,
        what="status Routed",
    )

    annotate(kube_client, namespace, "checkout", None)
    # The status annotation goes last: while it is there, the clean-up is not finished.
    eventually(
        lambda: (
            gone(kube_client, Deployment, namespace, "checkout-sandboxmesh-router")
            and gone(kube_client, Service, namespace, "checkout-sandboxmesh-baseline")
            and routers.ANNOTATION_ROUTE_STATUS
            not in (
                get_service(kube_client, namespace, "checkout")["metadata"].get("annotations") or {}
            )
        ),
        timeout=60,
        what="the router objects and the route status removed",
    )
    restored = get_service(kube_client, namespace, "checkout")
    assert restored["spec"]["selector"] == {"app": "checkout"}
    annotations = restored["metadata"].get("annotations") or {}
    assert routers.ANNOTATION_BASELINE_SELECTOR not in annotations
    assert routers.ANNOTATION_ROUTE_STATUS not in annotations
    assert eventually(
        lambda: (p := endpoint_pods(kube_client, namespace, "checkout")) == baseline_pods and p,
        timeout=30,
        what="the baseline's own endpoints again",
    )
    history.stop.set()
    assert router_pods <= history.pods
    assert baseline_pods <= history.pods
    # Never a moment without a Ready endpoint behind the Service, in either direction.
    assert 0 not in history.counts, history.counts
    assert -1 not in history.counts, "the endpoint watch failed mid-test"


def test_a_service_that_cannot_be_routed_is_left_alone(
    kube_client: Client, namespace: str, route_server: RouteServerThread
) -> None:
    kube_client.create(
        Service(
            metadata=ObjectMeta(
                name="dns", namespace=namespace, annotations={routers.ANNOTATION_ROUTE: "true"}
            ),
            spec=ServiceSpec(selector={"app": "dns"}, ports=[ServicePort(port=53, protocol="UDP")]),
        )
    )
    status = eventually(
        lambda: get_service(kube_client, namespace, "dns")["metadata"]["annotations"].get(
            routers.ANNOTATION_ROUTE_STATUS
        ),
        timeout=30,
        what="a refusal recorded",
    )
    assert status.startswith("Refused: port 53")
    assert get_service(kube_client, namespace, "dns")["spec"]["selector"] == {"app": "dns"}
    assert gone(kube_client, Deployment, namespace, "dns-sandboxmesh-router")


@pytest.fixture
def operator_process(kube_target: KubeTarget, namespace: str, tmp_path: Path) -> Iterator[None]:
    """The real operator, forking in this test's namespace only."""
    log = (tmp_path / "operator.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandboxmesh",
            "operator",
            "--kubeconfig",
            str(kube_target.kubeconfig),
            "--namespace",
            namespace,
            "--no-leader-elect",
            "--probe-port",
            "0",
            "--drain",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_behind_routers_the_real_operators_fork_gets_the_route(
    kube_client: Client,
    namespace: str,
    route_server: RouteServerThread,
    operator_process: None,
) -> None:
    apply_baseline(kube_client, namespace, "checkout")
    annotate(kube_client, namespace, "checkout", "true")
    eventually(
        lambda: (
            get_service(kube_client, namespace, "checkout")["spec"]["selector"]
            == {routers.LABEL_ROUTER: "checkout"}
        ),
        timeout=60,
        what="the Service switched to its routers",
    )
    name = f"behind-{uuid.uuid4().hex[:6]}"
    key = f"r{uuid.uuid4().hex[:12]}"
    kube_client.create(
        SandboxResource(
            metadata=ObjectMeta(name=name),
            spec={
                "cluster": "local",
                "routingKey": key,
                "forks": [
                    {"forkOf": {"kind": "Deployment", "namespace": namespace, "name": "checkout"}}
                ],
            },
        )
    )
    try:
        routes = eventually(
            lambda: route_server.read(
                lambda s: s.state.table.routes_for(ServiceRef(namespace, "checkout"))
            ),
            timeout=90,
            what="a route from the routed Service to the operator's fork",
        )
        (route,) = routes
        assert (route.key, route.sandbox) == (key, name)
        fork = get_service(kube_client, namespace, route.fork.name)
        assert fork["metadata"]["labels"]["sandboxmesh.io/sandbox"] == name
    finally:
        kube_client.delete(SandboxResource, name)
        eventually(
            lambda: gone_cluster_scoped(kube_client, name),
            timeout=60,
            what="the sandbox deleted by the operator",
        )


def gone_cluster_scoped(client: Client, name: str) -> bool:
    try:
        client.get(SandboxResource, name)
    except ApiError as error:
        return error.status.code == 404
    return False
