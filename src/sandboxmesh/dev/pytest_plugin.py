"""pytest fixtures for a real Kubernetes API (loaded by the project's tests/conftest.py).

`kube_target` is session-scoped: one cluster for the whole run. When
`SANDBOXMESH_TEST_KUBECONFIG` names a kubeconfig (kind, k3d, a real cluster), the suite uses
that cluster instead of starting its own and installs the Sandbox CRD there.

`real_node_target` is a cluster with a real node on this host (Pods run as containers), one
per run as one per host: started at its first use, stopped at the end or by a test that needs
the host to itself (`real_node_host_free`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from sandboxmesh.dev.cluster import kube
from sandboxmesh.dev.cluster.cluster import ClusterConfig, LocalCluster
from sandboxmesh.dev.cluster.node import host as node_host
from sandboxmesh.spec.crd import CRD_NAME, ROUTE_GROUP_CRD_NAME, all_manifests

EXTERNAL_KUBECONFIG_ENV = "SANDBOXMESH_TEST_KUBECONFIG"


@dataclass(frozen=True)
class KubeTarget:
    """The cluster under test: a kubeconfig, and the LocalCluster when we started it."""

    kubeconfig: Path
    local: LocalCluster | None

    def client(self, field_manager: str = "sandboxmesh-tests") -> Client:
        return Client(config=KubeConfig.from_file(self.kubeconfig), field_manager=field_manager)


@pytest.fixture(scope="session")
def kube_target() -> Iterator[KubeTarget]:
    external = os.environ.get(EXTERNAL_KUBECONFIG_ENV)
    if external:
        path = Path(external).expanduser()
        with kube.admin_client(path) as client:
            for manifest in all_manifests():
                kube.apply_manifest(client, manifest)
            _wait_established(client)
        yield KubeTarget(path, None)
        return
    with LocalCluster(ClusterConfig(nodes=3, crds=all_manifests())) as cluster:
        yield KubeTarget(cluster.kubeconfig, cluster)


class RealNodeCluster:
    """The run's cluster with a real node, started when first asked for."""

    def __init__(self) -> None:
        self.cluster: LocalCluster | None = None

    def target(self) -> KubeTarget:
        if self.cluster is None:
            lacks = node_host.missing()
            if lacks:
                pytest.skip(f"THIS HOST CANNOT RUN THE REAL NODE: no {'; no '.join(lacks)}")
            cluster = LocalCluster(
                ClusterConfig(nodes=1, real_node=True, crds=all_manifests(), start_timeout=180)
            )
            cluster.start()
            self.cluster = cluster
        return KubeTarget(self.cluster.kubeconfig, self.cluster)

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


@pytest.fixture(scope="session")
def real_node_cluster() -> Iterator[RealNodeCluster]:
    holder = RealNodeCluster()
    try:
        yield holder
    finally:
        holder.stop()


@pytest.fixture
def real_node_target(real_node_cluster: RealNodeCluster) -> KubeTarget:
    return real_node_cluster.target()


@pytest.fixture
def real_node_host_free(real_node_cluster: RealNodeCluster) -> None:
    """For a test that starts a real node of its own: the run's one is stopped first."""
    real_node_cluster.stop()


def _wait_established(client: Client) -> None:
    deadline = time.monotonic() + 30
    for name in (CRD_NAME, ROUTE_GROUP_CRD_NAME):
        while not kube.crd_established(client, name):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established within 30s")
            time.sleep(0.1)


@pytest.fixture
def kube_client(kube_target: KubeTarget) -> Iterator[Client]:
    client = kube_target.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def namespace(kube_client: Client) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (the namespace controller empties it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube_client.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        yield name
    finally:
        kube_client.delete(Namespace, name)
