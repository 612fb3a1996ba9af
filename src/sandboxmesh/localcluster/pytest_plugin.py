"""pytest fixtures for a real Kubernetes API (registered as the `sandboxmesh` pytest11 plugin).

`kube_target` is session-scoped: one cluster for the whole run. When
`SANDBOXMESH_TEST_KUBECONFIG` names a kubeconfig (kind, k3d, a real cluster), the suite uses
that cluster instead of starting its own and installs the Sandbox CRD there.
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

from sandboxmesh.localcluster import kube
from sandboxmesh.localcluster.cluster import ClusterConfig, LocalCluster
from sandboxmesh.spec.crd import CRD_NAME, crd_manifest

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
            kube.apply_manifest(client, crd_manifest())
            _wait_established(client)
        yield KubeTarget(path, None)
        return
    with LocalCluster(ClusterConfig(nodes=3, crds=[crd_manifest()])) as cluster:
        yield KubeTarget(cluster.kubeconfig, cluster)


def _wait_established(client: Client) -> None:
    deadline = time.monotonic() + 30
    while not kube.crd_established(client, CRD_NAME):
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {CRD_NAME} not established within 30s")
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
