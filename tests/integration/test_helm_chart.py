"""The Helm chart renders, the API server accepts what it renders, and its RBAC is tight."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = pytest.mark.cluster

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "sandboxmesh"
URL = "https://controlplane.example.com"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Binaries.locate().helm), *args], capture_output=True, text=True,
                          check=check)  # fmt: skip


def kubectl(
    target: KubeTarget, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    binary = str(Binaries.locate().kubectl) if target.local else "kubectl"
    return subprocess.run([binary, f"--kubeconfig={target.kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, check=check)  # fmt: skip


def render(release: str, namespace: str, *values: str, crds: bool = False) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--namespace", namespace, "--set",
            f"controlPlane.url={URL}"]  # fmt: skip
    for value in values:
        args += ["--set", value]
    if crds:
        args.append("--include-crds")
    return [doc for doc in yaml.safe_load_all(helm(*args).stdout) if doc]


@pytest.fixture
def release_namespace(kube_client: Client) -> Iterator[str]:
    name = f"smsys-{uuid.uuid4().hex[:6]}"
    kube_client.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube_client.delete(Namespace, name)


def test_helm_lint_passes() -> None:
    result = helm("lint", str(CHART), "--strict", "--set", f"controlPlane.url={URL}", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_control_plane_url_is_required() -> None:
    result = helm("template", "sm", str(CHART), check=False)
    assert result.returncode != 0
    assert "controlPlane.url is required" in result.stderr


def test_rendered_objects_pass_a_server_side_dry_run(
    kube_target: KubeTarget, release_namespace: str
) -> None:
    documents = render("sandboxmesh", release_namespace, crds=True)
    kinds = sorted({d["kind"] for d in documents})
    assert kinds == sorted({
        "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment",
        "NetworkPolicy", "Role", "RoleBinding", "Service", "ServiceAccount",
    })  # fmt: skip
    result = kubectl(
        kube_target, "apply", "--server-side", "--dry-run=server", "--field-manager=helm-test",
        "-f", "-", stdin=yaml.safe_dump_all(documents), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(documents)


def test_no_rule_uses_a_wildcard_and_secrets_are_named() -> None:
    for document in render("sandboxmesh", "sandboxmesh-system"):
        for rule in document.get("rules", []):
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (document["metadata"]["name"], rule)
            if "secrets" in rule.get("resources", []):
                assert rule.get("resourceNames") == ["sandboxmesh-agent-token"]
                assert rule["verbs"] == ["get"]


def test_namespaced_forking_uses_roles_in_those_namespaces_only() -> None:
    documents = render("sandboxmesh", "sandboxmesh-system",
                       "operator.namespaces={shop,payments}")  # fmt: skip
    forks = [d for d in documents if d["metadata"]["name"] == "sandboxmesh-operator-forks"]
    assert {(d["kind"], d["metadata"].get("namespace")) for d in forks} == {
        ("Role", "shop"), ("RoleBinding", "shop"),
        ("Role", "payments"), ("RoleBinding", "payments"),
    }  # fmt: skip
    operator = next(
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("operator")
    )
    args = operator["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=shop" in args
    assert "--namespace=payments" in args


def test_service_accounts_can_do_their_job_and_nothing_more(
    kube_target: KubeTarget, release_namespace: str
) -> None:
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    documents = [
        d for d in render(release, release_namespace)
        if d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                         "RoleBinding"}
    ]  # fmt: skip
    kubectl(kube_target, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(documents))
    try:
        agent = f"system:serviceaccount:{release_namespace}:{release}-agent"
        operator = f"system:serviceaccount:{release_namespace}:{release}-operator"

        def can(who: str, *what: str) -> bool:
            result = kubectl(kube_target, "auth", "can-i", f"--as={who}", *what, check=False)
            return result.stdout.strip() == "yes"

        assert can(agent, "create", "sandboxes.sandboxmesh.io")
        assert can(agent, "delete", "sandboxes.sandboxmesh.io")
        assert can(agent, "get", "secret/sandboxmesh-agent-token", "-n", release_namespace)
        assert not can(agent, "get", "secret/other", "-n", release_namespace)
        assert not can(agent, "list", "secrets", "-n", release_namespace)
        assert not can(agent, "patch", "sandboxes.sandboxmesh.io", "--subresource=status")
        assert can(agent, "create", "routegroups.sandboxmesh.io")
        assert can(agent, "delete", "routegroups.sandboxmesh.io")
        assert not can(agent, "patch", "routegroups.sandboxmesh.io", "--subresource=status")
        assert not can(agent, "create", "deployments", "-n", "default")
        # The preview keys' ConfigMap, and no other.
        keys = "configmap/sandboxmesh-preview-keys"
        assert can(agent, "patch", keys, "-n", release_namespace)
        assert can(agent, "get", keys, "-n", release_namespace)
        assert not can(agent, "patch", "configmap/other", "-n", release_namespace)
        assert not can(agent, "list", "configmaps", "-n", release_namespace)
        assert not can(agent, "patch", keys, "-n", "default")

        assert can(operator, "patch", "sandboxes.sandboxmesh.io", "--subresource=status")
        assert can(operator, "create", "deployments", "-n", "shop")
        assert can(operator, "delete", "services", "-n", "shop")
        assert can(operator, "update", "leases/sandboxmesh-operator", "-n", release_namespace)
        assert not can(operator, "update", "leases/someone-else", "-n", release_namespace)
        assert not can(operator, "delete", "sandboxes.sandboxmesh.io")
        assert not can(operator, "create", "sandboxes.sandboxmesh.io")
        assert not can(operator, "get", "secrets", "-n", "shop")
        assert not can(operator, "delete", "pods", "-n", "shop")
        assert can(operator, "list", "customresourcedefinitions")  # kopf scans them
        assert not can(operator, "create", "customresourcedefinitions")

        routes = f"system:serviceaccount:{release_namespace}:{release}-route-server"
        assert can(routes, "watch", "sandboxes.sandboxmesh.io")
        assert not can(routes, "patch", "sandboxes.sandboxmesh.io")
        # Routers: it puts them in front of annotated Services, in any namespace.
        assert can(routes, "patch", "services", "-n", "shop")
        assert can(routes, "create", "deployments", "-n", "shop")
        assert can(routes, "delete", "poddisruptionbudgets", "-n", "shop")
        assert can(routes, "list", "endpointslices.discovery.k8s.io", "-n", "shop")
        assert not can(routes, "get", "secrets", "-n", "shop")
        assert not can(routes, "delete", "pods", "-n", "shop")
        assert not can(routes, "create", "sandboxes.sandboxmesh.io")
        # Route groups: read, and their status written (members, conflicts).
        assert can(routes, "watch", "routegroups.sandboxmesh.io")
        assert can(routes, "patch", "routegroups.sandboxmesh.io", "--subresource=status")
        assert not can(routes, "patch", "routegroups.sandboxmesh.io")
        assert not can(routes, "create", "routegroups.sandboxmesh.io")
    finally:
        kubectl(kube_target, "delete", "-f", "-", "--ignore-not-found",
                stdin=yaml.safe_dump_all(documents))  # fmt: skip


def test_the_route_server_manages_routers_from_the_router_image_built_here() -> None:
    documents = render("sandboxmesh", "sandboxmesh-system")
    (route_server,) = [
        d for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "sandboxmesh-route-server"
    ]  # fmt: skip
    (container,) = route_server["spec"]["template"]["spec"]["containers"]
    assert container["image"] == catalog.SANDBOXMESH_IMAGE
    assert "--manage-routers" in container["args"]
    assert f"--router-image={catalog.ROUTER_IMAGE}" in container["args"]
    xds = "sandboxmesh-route-server.sandboxmesh-system.svc.cluster.local:18000"
    assert f"--router-xds-address={xds}" in container["args"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert not [d for d in documents if d["kind"] == "PodDisruptionBudget"]  # one replica each
    assert "--no-route-traces" not in container["args"]  # route traces on by default


def test_route_traces_can_be_turned_off() -> None:
    documents = render("sandboxmesh", "sandboxmesh-system", "routeServer.routeTraces=false")
    (route_server,) = [
        d for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "sandboxmesh-route-server"
    ]  # fmt: skip
    assert "--no-route-traces" in route_server["spec"]["template"]["spec"]["containers"][0]["args"]


def test_components_with_several_replicas_get_disruption_budgets() -> None:
    documents = render("sandboxmesh", "sandboxmesh-system",
                       "routeServer.replicas=2", "operator.replicas=2")  # fmt: skip
    budgets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "PodDisruptionBudget"}
    assert set(budgets) == {"sandboxmesh-route-server", "sandboxmesh-operator"}
    assert all(b["spec"]["minAvailable"] == 1 for b in budgets.values())
    (operator,) = [
        d for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "sandboxmesh-operator"
    ]  # fmt: skip
    # Only the leader is Ready by its /readyz: no readiness gate, or rollouts would stall.
    assert "readinessProbe" not in operator["spec"]["template"]["spec"]["containers"][0]


def _agent_args(*values: str) -> list[str]:
    documents = render("sandboxmesh", "sandboxmesh-system", *values)
    (agent,) = [
        d for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "sandboxmesh-agent"
    ]  # fmt: skip
    args: list[str] = agent["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_the_agent_relays_route_traces_from_the_route_server_it_is_installed_with() -> None:
    url = "http://sandboxmesh-route-server.sandboxmesh-system.svc.cluster.local:8081"
    assert f"--route-server-url={url}" in _agent_args()
    other = "http://sandboxmesh-route-server.sandboxmesh-system.svc.k8s.example:8081"
    assert f"--route-server-url={other}" in _agent_args("clusterDomain=k8s.example")
    assert not [a for a in _agent_args("routeServer.enabled=false") if "route-server" in a]


def _route_server_policy(*values: str) -> dict[str, Any] | None:
    documents = render("sandboxmesh", "sandboxmesh-system", *values)
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    assert len(policies) <= 1
    return policies[0] if policies else None


def test_only_routers_and_the_agent_reach_the_route_server_ports() -> None:
    policy = _route_server_policy()
    assert policy is not None
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "route-server"
    assert spec["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in spec["ingress"]}
    assert set(by_port) == {18000, 8081}
    # xDS: router Pods of any namespace (the route server puts them beside each Service).
    (routers,) = by_port[18000]
    assert routers["namespaceSelector"] == {}
    assert routers["podSelector"]["matchExpressions"] == [
        {"key": "sandboxmesh.io/router", "operator": "Exists"}
    ]
    # HTTP API (routing keys, traces): this release's agent, in the release's namespace only.
    (agent,) = by_port[8081]
    assert "namespaceSelector" not in agent
    assert agent["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "sandboxmesh",
        "app.kubernetes.io/component": "agent",
    }


def test_the_route_server_policy_takes_more_peers_or_none() -> None:
    policy = _route_server_policy(
        "routeServer.networkPolicy.httpFrom[0].namespaceSelector.matchLabels.name=monitoring",
        "routeServer.networkPolicy.xdsFrom[0].ipBlock.cidr=10.0.0.0/8",
    )
    assert policy is not None
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["spec"]["ingress"]}
    assert by_port[8081][1] == {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    assert by_port[18000][1] == {"ipBlock": {"cidr": "10.0.0.0/8"}}
    assert _route_server_policy("routeServer.networkPolicy.enabled=false") is None
    assert _route_server_policy("routeServer.enabled=false") is None


PREVIEW = ("preview.domain=preview.example.com",)


def _named(documents: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    return next(
        d for d in documents if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)
    )


def _args(documents: list[dict[str, Any]], component: str) -> list[str]:
    deployment = _named(documents, "Deployment", component)
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_without_a_preview_domain_there_is_no_gateway_and_no_preview_urls() -> None:
    documents = render("sandboxmesh", "sandboxmesh-system")
    assert not [d for d in documents if "preview" in d["metadata"]["name"]]
    assert not [a for a in _args(documents, "operator") if a.startswith("--preview")]
    assert not [a for a in _args(documents, "route-server") if a.startswith("--preview")]


@pytest.mark.parametrize("tls", [False, True])
def test_the_gateway_bootstrap_is_the_one_the_route_server_expects(tls: bool) -> None:
    from sandboxmesh.routing.core.bootstrap import AdsServer, envoy_bootstrap
    from sandboxmesh.routing.core.fronts import Gateway

    values = [*PREVIEW, *(["preview.gateway.tls.secretName=wildcard-tls"] if tls else [])]
    documents = render("sm", "sandboxmesh-system", *values)
    config = _named(documents, "ConfigMap", "preview-gateway")
    port = 8443 if tls else 8080
    expected = envoy_bootstrap(
        node_id="sm-preview-gateway",
        node_cluster="sandboxmesh-system/sm-preview-gateway",
        fronts=[],
        ads=AdsServer("sm-route-server.sandboxmesh-system.svc.cluster.local", 18000),
        admin_address="0.0.0.0",  # noqa: S104
        admin_port=9901,
        gateway=Gateway(
            listen_port=port,
            tls_certificate_file="/etc/sandboxmesh/tls/tls.crt" if tls else None,
            tls_key_file="/etc/sandboxmesh/tls/tls.key" if tls else None,
        ),
    )
    assert json.loads(config["data"]["envoy.json"]) == expected
    service = _named(documents, "Service", "preview-gateway")
    assert service["spec"]["ports"][0]["port"] == (443 if tls else 80)
    assert service["spec"]["ports"][0]["targetPort"] == port
    # https either way: without TLS of its own, a load balancer in front ends it (the default).
    assert "--preview-scheme=https" in _args(documents, "operator")
    assert "--preview-domain=preview.example.com" in _args(documents, "operator")
    assert "--preview-keys-namespace=sandboxmesh-system" in _args(documents, "route-server")
    pod = _named(documents, "Deployment", "preview-gateway")["spec"]["template"]
    # The route server's NetworkPolicy admits routers to xDS: the gateway is one.
    assert "sandboxmesh.io/router" in pod["metadata"]["labels"]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_a_plain_http_gateway_on_a_node_port_names_its_port_in_the_urls() -> None:
    documents = render(
        "sm", "sandboxmesh-system", *PREVIEW, "preview.scheme=http", "preview.port=30080",
        "preview.gateway.service.type=NodePort", "preview.gateway.service.nodePort=30080",
    )  # fmt: skip
    args = _args(documents, "operator")
    assert "--preview-scheme=http" in args
    assert "--preview-port=30080" in args
    service = _named(documents, "Service", "preview-gateway")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080


def test_the_route_server_reads_only_the_preview_keys_configmap() -> None:
    documents = render("sm", "sandboxmesh-system", *PREVIEW)
    role = _named(documents, "Role", "route-server-preview-keys")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["sandboxmesh-preview-keys"],
            "verbs": ["get", "list", "watch"],
        }
    ]


def test_rendered_preview_objects_pass_a_server_side_dry_run(
    kube_target: KubeTarget, release_namespace: str
) -> None:
    documents = render(
        "sandboxmesh", release_namespace, *PREVIEW, "preview.gateway.tls.secretName=t",
        "preview.gateway.service.type=NodePort",
    )  # fmt: skip
    result = kubectl(
        kube_target, "apply", "--server-side", "--dry-run=server", "--field-manager=helm-test",
        "-f", "-", stdin=yaml.safe_dump_all(documents), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
