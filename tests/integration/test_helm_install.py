"""`helm install` of deploy/helm/sandboxmesh on the real node, as the docs say to run it: the
agent, the operator and the route server run from the images built here, and the control
plane (on this host, standing for the hosted one) sees the cluster connected."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret
from tests.support.eventually import eventually
from tests.support.system import bootstrap, start

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node.configs import NODE_IP, NODE_NAME
from sandboxmesh.dev.demo import in_cluster
from sandboxmesh.dev.processes import free_port
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "sandboxmesh"
RELEASE_NAMESPACE = "sandboxmesh-system"


def _cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandboxmesh", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SANDBOXMESH_HOME": str(home), **env},
    )  # fmt: skip


def test_helm_install_runs_every_component_and_the_cluster_connects(
    real_node_target: KubeTarget, tmp_path: Path
) -> None:
    assert real_node_target.local is not None
    in_cluster.load_images(real_node_target.local, catalog.IMAGES[:2])

    # The control plane on this host, where Pods reach it: the node's address.
    database = f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}"
    owner_token = bootstrap(database, tmp_path)
    port = free_port()
    server = start(
        "server",
        ["server", "--database-url", database, "--host", NODE_IP, "--port", str(port)],
        tmp_path, port=port, env={"SANDBOXMESH_HOME": str(tmp_path)},
    )  # fmt: skip
    url = f"http://{NODE_IP}:{port}"
    client = real_node_target.client()
    try:
        eventually(
            lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
            timeout=60, what="the control plane on the node's address",
        )  # fmt: skip
        env = {"SANDBOXMESH_URL": url, "SANDBOXMESH_TOKEN": owner_token}
        registered = _cli(tmp_path, env, "cluster", "register", "real", "-o", "json")
        assert registered.returncode == 0, registered.stderr
        agent_token = json.loads(registered.stdout)["token"]
        # Applied, not created: an earlier operator run on this cluster (its Lease lives
        # there) may have left the namespace, as a user's own may exist before the install.
        client.apply(Namespace(metadata=ObjectMeta(name=RELEASE_NAMESPACE)))
        client.create(
            Secret(
                metadata=ObjectMeta(name="agent-token", namespace=RELEASE_NAMESPACE),
                stringData={"token": agent_token},
            )
        )
        helm = subprocess.run(
            [str(Binaries.locate().helm), "install", "sandboxmesh", str(CHART),
             "-n", RELEASE_NAMESPACE, "--set", f"controlPlane.url={url}",
             "--set", "agent.tokenSecret=agent-token", "--wait", "--timeout", "4m",
             f"--kubeconfig={real_node_target.kubeconfig}"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert helm.returncode == 0, helm.stderr + _pod_report(client)

        deployments = {
            d.metadata.name: d
            for d in client.list(Deployment, namespace=RELEASE_NAMESPACE)
            if d.metadata is not None and d.metadata.name
        }
        assert set(deployments) == {
            "sandboxmesh-agent",
            "sandboxmesh-operator",
            "sandboxmesh-route-server",
        }
        for pod in client.list(Pod, namespace=RELEASE_NAMESPACE):
            assert pod.spec is not None
            assert pod.spec.nodeName == NODE_NAME
            assert pod.status is not None
            assert pod.status.containerStatuses
            assert (pod.status.containerStatuses[0].containerID or "").startswith("containerd://")

        def connected() -> dict[str, object] | None:
            shown = _cli(tmp_path, env, "cluster", "get", "real", "-o", "json")
            assert shown.returncode == 0, shown.stderr
            cluster = json.loads(shown.stdout)
            return cluster if cluster["connection"] == "connected" else None

        cluster = eventually(connected, timeout=60, what="the cluster connected", interval=1)
        assert cluster["agentVersion"]
    finally:
        subprocess.run(
            [str(Binaries.locate().helm), "uninstall", "sandboxmesh", "-n", RELEASE_NAMESPACE,
             "--wait", f"--kubeconfig={real_node_target.kubeconfig}"],
            capture_output=True, timeout=120,
        )  # fmt: skip
        with contextlib.suppress(ApiError):  # absent when the test failed before making it
            client.delete(Namespace, RELEASE_NAMESPACE)
        client.close()
        server.stop()


def _pod_report(client: Client) -> str:
    lines = []
    for pod in client.list(Pod, namespace=RELEASE_NAMESPACE):
        for status in (pod.status.containerStatuses if pod.status else None) or []:
            state = status.state
            lines.append(f"{pod.metadata.name if pod.metadata else '?'}: {state}")
    return "\n" + "\n".join(lines)
