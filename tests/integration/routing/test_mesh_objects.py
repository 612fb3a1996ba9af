"""Rendered Istio VirtualServices and Gateway API HTTPRoutes against the REAL CRDs.

The CRDs come from their Go modules (hack/mesh-crds.sh pins the versions); the API server
validates the objects with the CRDs' schemas and CEL rules, and strict field validation
rejects any field the schema does not know.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, Client, codecs
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from tests.integration.routing.operator_double import OperatorDouble, apply_service
from tests.support.eventually import eventually

from sandboxmesh.dev.cluster import kube
from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.routing.controllers.mesh_applier import HTTPRoute, VirtualService
from sandboxmesh.routing.core import gateway_api, istio, matching
from sandboxmesh.routing.core.mesh import MeshRoutes
from sandboxmesh.routing.core.table import ForkRoute, ServiceRef
from sandboxmesh.routing.server import RouteServerSettings, RouteServerThread

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
WANTED_CRDS = {"virtualservices.networking.istio.io", "httproutes.gateway.networking.k8s.io"}


@pytest.fixture(scope="session")
def mesh_crds(kube_target: KubeTarget) -> None:
    paths = subprocess.run(
        [str(REPO / "hack" / "mesh-crds.sh")], capture_output=True, text=True, check=True
    ).stdout.split()
    client = kube_target.client("routing-tests")
    try:
        for path in paths:
            for document in yaml.safe_load_all(Path(path).read_text()):
                if document and document["metadata"]["name"] in WANTED_CRDS:
                    kube.apply_manifest(client, document)
        for name in WANTED_CRDS:
            eventually(lambda n=name: kube.crd_established(client, n), timeout=30, what=name)
        # Discovery of the new API groups lags the Established condition a little.
        eventually(
            lambda: (
                client.list(VirtualService, namespace="default") is not None
                and list(client.list(HTTPRoute, namespace="default")) is not None
            ),
            timeout=30,
            what="mesh APIs served",
        )
    finally:
        client.close()


@pytest.fixture
def strict_apply(kube_target: KubeTarget, mesh_crds: None) -> Iterator[Any]:
    """Server-side apply; returns the object as stored."""
    client = kube_target.client("routing-tests")

    def apply(manifest: dict[str, Any]) -> dict[str, Any]:
        obj = codecs.from_dict(manifest)
        stored = client.apply(obj, field_manager="routing-tests", force=True)
        result: dict[str, Any] = stored.to_dict()
        return result

    try:
        yield apply
    finally:
        client.close()


def target(namespace: str, keys: int, ports: tuple[int, ...] = (80,)) -> MeshRoutes:
    routes = tuple(
        ForkRoute(
            f"key{i:04d}{uuid.uuid4().hex[:6]}",
            f"pr-{i}",
            ServiceRef(namespace, f"checkout-pr-{i}"),
        )
        for i in range(keys)
    )
    return MeshRoutes(ServiceRef(namespace, "checkout"), ports, routes)


def test_virtual_service_is_accepted_as_rendered(
    strict_apply: Any, namespace: str, kube_client: Client
) -> None:
    mesh = target(namespace, 3)
    rendered = istio.virtual_service(mesh, matching.KeyHeaders.with_extra(["x-tenant-route"]))
    stored = strict_apply(rendered)
    assert stored["spec"] == rendered["spec"]
    http = stored["spec"]["http"]
    assert [r["name"] for r in http] == [
        "pr-0-header", "pr-1-header", "pr-2-header",
        "pr-0-baggage", "pr-1-baggage", "pr-2-baggage",
        "baseline",
    ]  # fmt: skip
    assert http[0]["match"] == [
        {"headers": {"x-sandboxmesh-routing-key": {"exact": mesh.routes[0].key}}},
        {"headers": {"x-tenant-route": {"exact": mesh.routes[0].key}}},
    ]
    assert http[3]["route"] == [
        {"destination": {"host": f"checkout-pr-0.{namespace}.svc.cluster.local"}}
    ]
    assert http[-1]["route"] == [
        {"destination": {"host": f"checkout.{namespace}.svc.cluster.local"}}
    ]


def test_virtual_service_for_several_ports_keeps_requests_on_their_port(
    strict_apply: Any, namespace: str
) -> None:
    rendered = istio.virtual_service(target(namespace, 1, (80, 9090)), matching.KeyHeaders())
    stored = strict_apply(rendered)
    assert stored["spec"] == rendered["spec"]
    ports = [(r["name"], r["match"][0].get("port")) for r in stored["spec"]["http"]]
    assert ports == [
        ("pr-0-header-80", 80), ("pr-0-baggage-80", 80), ("baseline-80", 80),
        ("pr-0-header-9090", 9090), ("pr-0-baggage-9090", 9090), ("baseline-9090", 9090),
    ]  # fmt: skip


def test_http_routes_are_accepted_and_split_to_fit_the_api_limits(
    strict_apply: Any, namespace: str
) -> None:
    mesh = target(namespace, 10)  # 20 key rules + the baseline rule: two HTTPRoutes
    rendered = gateway_api.http_routes(mesh, matching.KeyHeaders())
    assert [r["metadata"]["name"] for r in rendered] == [
        "sandboxmesh-checkout-80",
        "sandboxmesh-checkout-80-2",
    ]
    stored_rules = []
    for route in rendered:
        stored = strict_apply(route)
        assert stored["spec"]["parentRefs"] == [
            {"group": "", "kind": "Service", "name": "checkout", "port": 80}
        ]
        for mine, theirs in zip(route["spec"]["rules"], stored["spec"]["rules"], strict=True):
            # The API server fills defaults (path match, weights); what we wrote is kept.
            assert theirs["name"] == mine["name"]
            assert theirs["backendRefs"][0]["name"] == mine["backendRefs"][0]["name"]
            assert [m["headers"] for m in theirs.get("matches", []) if "headers" in m] == [
                m["headers"] for m in mine.get("matches", [])
            ]
        stored_rules += stored["spec"]["rules"]
    assert len(stored_rules) == 21
    assert stored_rules[-1]["name"] == "baseline"
    baggage = stored_rules[10]["matches"][0]["headers"][0]
    assert baggage["type"] == "RegularExpression"
    assert baggage["value"] == f"^(?:{matching.baggage_pattern(mesh.routes[0].key)})$"


def test_the_real_schema_does_reject_a_broken_route(strict_apply: Any, namespace: str) -> None:
    """The acceptance above means something: the CRD's own rules refuse a bad object."""
    (route,) = gateway_api.http_routes(target(namespace, 1), matching.KeyHeaders())
    del route["spec"]["rules"][0]["backendRefs"][0]["port"]  # a Service backend needs its port
    with pytest.raises(ApiError, match="port"):
        strict_apply(route)
    vs = istio.virtual_service(target(namespace, 1), matching.KeyHeaders())
    vs["spec"]["http"][0]["match"][0]["headers"]["baggage"] = {"regexp": "x"}  # unknown field
    with pytest.raises(ApiError, match="regexp"):
        strict_apply(vs)


def test_mesh_crds_are_the_pinned_real_ones(kube_client: Client, mesh_crds: None) -> None:
    for name in WANTED_CRDS:
        crd = kube_client.get(CustomResourceDefinition, name)
        assert any(v.name == "v1" and v.served for v in crd.spec.versions)


def test_route_server_keeps_mesh_objects_in_step_with_sandboxes(
    kube_target: KubeTarget, kube_client: Client, namespace: str, mesh_crds: None
) -> None:
    """`--mesh auto` finds both CRDs; routes appear with a ready fork and go with the sandbox."""
    double = OperatorDouble(kube_client, namespace)
    apply_service(kube_client, namespace, "checkout", {"app": "checkout"})
    settings = RouteServerSettings(watch=True, kubeconfig=kube_target.kubeconfig, mesh=("auto",))
    name, key = f"mesh-{uuid.uuid4().hex[:6]}", f"m{uuid.uuid4().hex[:12]}"
    try:
        with RouteServerThread(settings):
            double.create_sandbox(name, key, ["checkout"])
            double.write_status(name, key, {"checkout": True})

            def mesh_objects() -> tuple[dict[str, Any], dict[str, Any]] | None:
                try:
                    vs = kube_client.get(
                        VirtualService, "sandboxmesh-checkout", namespace=namespace
                    )
                    route = kube_client.get(
                        HTTPRoute, "sandboxmesh-checkout-80", namespace=namespace
                    )
                except ApiError:
                    return None
                return vs.to_dict(), route.to_dict()

            vs, route = eventually(mesh_objects, timeout=30, what="VirtualService and HTTPRoute")
            fork_host = f"checkout-{name}.{namespace}.svc.cluster.local"
            assert vs["spec"]["http"][0]["match"] == [
                {"headers": {"x-sandboxmesh-routing-key": {"exact": key}}}
            ]
            assert vs["spec"]["http"][0]["route"] == [{"destination": {"host": fork_host}}]
            assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == f"checkout-{name}"

            double.delete_sandbox(name)
            eventually(lambda: mesh_objects() is None, timeout=30, what="mesh objects deleted")
    finally:
        double.cleanup()
