"""SandboxMesh's in-cluster half on the dev cluster's real node, as a user installs it: the
project's images loaded into the node, then `helm install` of deploy/helm/sandboxmesh (the
agent, the operator, the route server managing routers), pointed at a control plane that Pods
reach on this host at the node's address.

What `sandboxmesh demo`, the end-to-end tests and the real-node benchmarks install.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Secret

from sandboxmesh.dev.cluster import Binaries, LocalCluster
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node import archives
from sandboxmesh.dev.cluster.node.configs import NodeLayout
from sandboxmesh.kube import errors as kube_errors

RELEASE = "sandboxmesh"
RELEASE_NAMESPACE = "sandboxmesh-system"
#: The Secret's name (the token is its data).
TOKEN_SECRET = "sandboxmesh-agent-token"  # noqa: S105
FIELD_MANAGER = "sandboxmesh-dev"
#: Which archive each image in the node came from.
LOADED_RECORD = "loaded-images.json"


class ChartFailed(RuntimeError):
    """`helm install` did not end with every component ready; the message says which Pod
    waits for what."""


def load_images(
    cluster: LocalCluster, specs: tuple[catalog.ImageSpec, ...] = catalog.IMAGES
) -> list[str]:
    """Build each image (cached by content) and load it into the node unless the node holds
    that very build already; returns the references loaded.

    Tags follow the package version, so a changed checkout builds a new image under the same
    tag: what the node holds is known by the archive it came from (named by its content),
    recorded beside the node."""
    socket = NodeLayout(cluster.workdir / "node").containerd_socket
    record = cluster.workdir / "node" / LOADED_RECORD
    loaded: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    present = set(archives.list_images(socket))
    builder = catalog.builder()
    wanted = {}
    for spec in specs:
        archive = builder.build(spec)
        if spec.reference not in present or loaded.get(spec.reference) != archive.name:
            wanted[spec.reference] = archive
    if wanted:
        archives.load(list(wanted.values()), socket)
        loaded |= {reference: archive.name for reference, archive in wanted.items()}
        record.write_text(json.dumps(loaded, indent=2))
    return list(wanted)


@dataclass(frozen=True)
class Install:
    """One release of the chart: where it talks to, and the values it is given beyond them."""

    kubeconfig: Path
    control_plane_url: str
    cluster_token: str
    namespace: str = RELEASE_NAMESPACE
    #: `--set` values, e.g. {"agent.pollWaitSeconds": "5"}.
    values: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = 240

    def _helm(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Binaries.locate().helm), *args, "-n", self.namespace,
             f"--kubeconfig={self.kubeconfig}"],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def install(self) -> None:
        """The namespace and the agent's token Secret, then `helm upgrade --install --wait`."""
        client = Client(config=KubeConfig.from_file(self.kubeconfig), field_manager=FIELD_MANAGER)
        try:
            client.apply(Namespace(metadata=ObjectMeta(name=self.namespace)))
            client.apply(
                Secret(
                    metadata=ObjectMeta(name=TOKEN_SECRET, namespace=self.namespace),
                    stringData={"token": self.cluster_token},
                ),
                force=True,
            )
            settings = {
                "controlPlane.url": self.control_plane_url,
                "agent.tokenSecret": TOKEN_SECRET,
                **self.values,
            }
            sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
            helm = self._helm(
                "upgrade", "--install", RELEASE, str(chart_path()), *sets,
                "--wait", "--timeout", f"{self.timeout_seconds}s",
                timeout=self.timeout_seconds + 30,
            )  # fmt: skip
            if helm.returncode != 0:
                words = (helm.stderr.strip().splitlines() or ["helm failed"])[-1]
                raise ChartFailed(
                    f"helm install {RELEASE}: {words}{pods_waiting(client, self.namespace)}"
                )
        finally:
            client.close()

    def uninstall(self, timeout: float = 120.0) -> None:
        """`helm uninstall --wait`, then the namespace (absent or gone already is fine); returns
        once the namespace is gone, so that the next install may create it again."""
        self._helm("uninstall", RELEASE, "--wait", "--ignore-not-found", timeout=150)
        client = Client(config=KubeConfig.from_file(self.kubeconfig), field_manager=FIELD_MANAGER)
        try:
            client.delete(Namespace, self.namespace)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                client.get(Namespace, self.namespace)
                time.sleep(0.2)
            raise ChartFailed(f"namespace {self.namespace} not gone within {timeout:g}s")
        except kube_errors.CLIENT_ERRORS as error:
            if not kube_errors.is_not_found(error):
                raise
        finally:
            client.close()


def chart_path() -> Path:
    return catalog.repository_root() / "deploy" / "helm" / "sandboxmesh"


def pods_waiting(client: Client, namespace: str) -> str:
    """ "; Pod P waits: REASON (MESSAGE)" for each container not running in `namespace`."""
    parts = []
    for pod in client.list(Pod, namespace=namespace):
        for status in (pod.status.containerStatuses if pod.status else None) or []:
            waiting = status.state.waiting if status.state else None
            if waiting is not None:
                name = pod.metadata.name if pod.metadata else "?"
                parts.append(f"; Pod {name} waits: {waiting.reason} ({waiting.message or ''})")
    return "".join(parts)
