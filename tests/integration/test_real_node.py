"""The real node: Pods run as containerd containers on a real kubelet, with real networking
(CNI bridge, kube-proxy) and cluster DNS, from images built here and loaded, never pulled."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator

import httpx
import pytest
from lightkube import Client
from lightkube.models.core_v1 import (
    Container,
    PodSpec,
    Toleration,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Service
from tests.support.eventually import eventually
from tests.support.kube import apply_baseline

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.cluster.cluster import KWOK_TAINT
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node import archives
from sandboxmesh.dev.cluster.node.configs import NODE_IP, NODE_NAME, NodeLayout
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def demo_image() -> str:
    """The demo app's image, loaded into the node by the first test that needs it."""
    return catalog.DEMO_APP_IMAGE


@pytest.fixture
def node(real_node_target: KubeTarget, demo_image: str) -> Iterator[tuple[KubeTarget, Client]]:
    assert real_node_target.local is not None
    socket = NodeLayout(real_node_target.local.workdir / "node").containerd_socket
    if demo_image not in archives.list_images(socket):
        archives.load([catalog.builder().build(catalog.IMAGES[2])], socket)
    client = real_node_target.client()
    try:
        yield real_node_target, client
    finally:
        client.close()


@pytest.fixture
def ns(node: tuple[KubeTarget, Client], request: pytest.FixtureRequest) -> Iterator[str]:
    _, client = node
    name = "rn-" + request.node.name.replace("_", "-")[5:30].strip("-").lower()
    client.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        yield name
    finally:
        client.delete(Namespace, name)


def _web(client: Client, namespace: str, image: str, node_port: int | None = None) -> None:
    """The demo app as Deployment and Service `web` (tests.support.kube's baseline), its
    Service a NodePort when asked."""
    apply_baseline(client, namespace, "web", image=image)
    if node_port is not None:
        # A strategic merge: the port (its key) keeps its name and target, gains a nodePort.
        spec = {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]}
        client.patch(Service, "web", namespace=namespace, obj={"spec": spec})


def _ready_pod(client: Client, namespace: str, app: str = "web") -> Pod:
    def ready() -> Pod | None:
        for pod in client.list(Pod, namespace=namespace, labels={"app": app}):
            conditions = (pod.status.conditions if pod.status else None) or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                return pod
        return None

    return eventually(ready, timeout=90, what=f"a Ready Pod of {app}", interval=0.25)


def _exec(target: KubeTarget, namespace: str, pod: str, code: str) -> str:
    result = subprocess.run(
        [str(Binaries.locate().kubectl), f"--kubeconfig={target.kubeconfig}", "-n", namespace,
         "exec", pod, "--", "python3", "-c", code],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fetch_from_pod(target: KubeTarget, namespace: str, pod: str, url: str) -> str:
    code = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
    )
    return _exec(target, namespace, pod, code)


def test_a_pod_is_a_containerd_container_reachable_by_pod_ip_cluster_ip_node_port_and_dns(
    node: tuple[KubeTarget, Client], ns: str, demo_image: str
) -> None:
    target, client = node
    _web(client, ns, demo_image, node_port=31080)
    pod = _ready_pod(client, ns)
    assert pod.spec is not None
    assert pod.spec.nodeName == NODE_NAME
    assert pod.status is not None
    assert pod.status.podIP
    assert pod.status.containerStatuses
    container_id = pod.status.containerStatuses[0].containerID or ""
    assert container_id.startswith("containerd://")
    assert target.local is not None
    socket = NodeLayout(target.local.workdir / "node").containerd_socket
    listed = subprocess.run(
        ["ctr", "--address", str(socket), "-n", "k8s.io", "containers", "ls", "-q"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert container_id.removeprefix("containerd://") in listed

    # Host to Pod, host to ClusterIP (kube-proxy), host to NodePort on the node's address.
    service = client.get(Service, "web", namespace=ns)
    assert service.spec is not None
    for url in (
        f"http://{pod.status.podIP}:8080/",
        f"http://{service.spec.clusterIP}:80/",
        f"http://{NODE_IP}:31080/",
    ):
        body = eventually(
            lambda url=url: httpx.get(url, timeout=5).json(), timeout=30, what=f"GET {url}"
        )
        assert body["pod"] == pod.metadata.name

    # Pod to Service by its cluster DNS name (CoreDNS, then kube-proxy, back to the Pod).
    out = _fetch_from_pod(target, ns, pod.metadata.name, f"http://web.{ns}.svc.cluster.local/")
    assert f'"pod": "{pod.metadata.name}"' in out


def test_a_pod_reaches_a_server_of_this_host_at_the_node_address(
    node: tuple[KubeTarget, Client], ns: str, demo_image: str
) -> None:
    target, client = node
    served: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.client_address[0])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the host")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)  # noqa: S104 - the point
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _web(client, ns, demo_image)
        pod = _ready_pod(client, ns)
        assert pod.metadata is not None
        out = _fetch_from_pod(
            target, ns, pod.metadata.name, f"http://{NODE_IP}:{server.server_address[1]}/"
        )
        assert out.strip() == "from the host"
        assert served
        assert served[0] == pod.status.podIP
    finally:
        server.shutdown()


def test_cluster_dns_answers_cluster_names_and_forwards_nothing(
    node: tuple[KubeTarget, Client], ns: str, demo_image: str
) -> None:
    target, client = node
    _web(client, ns, demo_image)
    pod = _ready_pod(client, ns)
    assert pod.metadata is not None
    out = _exec(
        target, ns, pod.metadata.name,
        "import socket\n"
        "print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))\n"
        "try:\n"
        "    socket.getaddrinfo('deb.debian.org', 80)\n"
        "    print('resolved')\n"
        "except socket.gaierror as error:\n"
        "    print('unresolved', error.errno)\n",
    )  # fmt: skip
    first, second = out.split("\n")[:2]
    assert first == "10.96.0.1"
    assert second.startswith("unresolved")


UNALLOCATED_CLUSTER_IP = "10.96.255.254"  # in the Service range; no Service takes it here


def test_a_cluster_ip_without_a_service_stays_on_this_machine(
    node: tuple[KubeTarget, Client], ns: str, demo_image: str
) -> None:
    """What kube-proxy has not translated (yet) never leaves the machine, where something may
    answer: from this host it goes to the node's bridge and fails there; from a Pod it is
    refused at once (a router retries a refused connect sooner than a hanging one)."""
    target, client = node
    route = subprocess.run(["ip", "route", "get", UNALLOCATED_CLUSTER_IP],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert " dev smesh0 " in route, route
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{UNALLOCATED_CLUSTER_IP}/", timeout=5)
    _web(client, ns, demo_image)
    pod = _ready_pod(client, ns)
    assert pod.metadata is not None
    out = _exec(
        target, ns, pod.metadata.name,
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{UNALLOCATED_CLUSTER_IP}', 80), timeout=5)\n"
        "    print('connected')\n"
        "except OSError as error:\n"
        "    print('failed', type(error).__name__)\n",
    )  # fmt: skip
    assert out.startswith("failed"), out
    assert "timeout" not in out, out


def test_an_image_that_was_never_loaded_fails_at_once_on_this_machine(
    node: tuple[KubeTarget, Client], ns: str
) -> None:
    _, client = node
    client.create(
        Pod(
            metadata=ObjectMeta(name="nowhere", namespace=ns),
            spec=PodSpec(containers=[Container(name="app", image="registry.example.com/nope:1")]),
        )
    )

    def pull_failed() -> str | None:
        pod = client.get(Pod, "nowhere", namespace=ns)
        for status in (pod.status.containerStatuses if pod.status else None) or []:
            waiting = status.state.waiting if status.state else None
            if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
                return waiting.message or waiting.reason
        return None

    message = eventually(pull_failed, timeout=30, what="ErrImagePull", interval=0.25)
    assert "registry.example.com/nope:1" in message
    assert "127.0.0.1:9" in message  # refused here, not looked for on the network


def test_pods_go_to_the_real_node_unless_they_tolerate_kwok(
    node: tuple[KubeTarget, Client], ns: str, demo_image: str
) -> None:
    _, client = node
    toleration = Toleration(key=KWOK_TAINT["key"], value=KWOK_TAINT["value"],
                            effect=KWOK_TAINT["effect"], operator="Equal")  # fmt: skip
    for name, tolerations, selector in (
        ("plain", None, None),
        ("fake", [toleration], {"type": "kwok"}),
    ):
        client.create(
            Pod(
                metadata=ObjectMeta(name=name, namespace=ns),
                spec=PodSpec(
                    containers=[Container(name="app", image=demo_image,
                                          imagePullPolicy="IfNotPresent")],
                    tolerations=tolerations,
                    nodeSelector=selector,
                ),
            )
        )  # fmt: skip

    def placed(name: str) -> str | None:
        pod = client.get(Pod, name, namespace=ns)
        return pod.spec.nodeName if pod.spec else None

    assert eventually(lambda: placed("plain"), timeout=30, what="plain scheduled") == NODE_NAME
    assert eventually(lambda: placed("fake"), timeout=30, what="fake scheduled").startswith(
        "kwok-node-"
    )
