"""`kube.get_or_none` and `kube.delete_if_exists` against the real API server: a missing
object is an answer (None, False). That any other failure is raised as the client raised it
is unit-tested (tests/unit/kube/test_kube_calls.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import ConfigMap

from sandboxmesh import kube
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = pytest.mark.cluster


@pytest.fixture
async def client(kube_target: KubeTarget) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(config=KubeConfig.from_file(kube_target.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


async def test_a_namespaced_object_is_read_when_there_and_none_when_missing(
    client: AsyncClient, namespace: str
) -> None:
    await client.create(
        ConfigMap(metadata=ObjectMeta(name="present"), data={"k": "v"}), namespace=namespace
    )
    found = await kube.get_or_none(client, ConfigMap, "present", namespace=namespace)
    assert found is not None
    assert found.data == {"k": "v"}
    assert await kube.get_or_none(client, ConfigMap, "absent", namespace=namespace) is None


async def test_a_cluster_scoped_object_is_none_when_missing(client: AsyncClient) -> None:
    crd = await kube.get_or_none(client, CustomResourceDefinition, "sandboxes.sandboxmesh.io")
    assert crd is not None
    missing = f"things{uuid.uuid4().hex[:8]}.example.com"
    assert await kube.get_or_none(client, CustomResourceDefinition, missing) is None


async def test_a_delete_says_whether_there_was_an_object(
    client: AsyncClient, namespace: str
) -> None:
    await client.create(ConfigMap(metadata=ObjectMeta(name="doomed")), namespace=namespace)
    assert await kube.delete_if_exists(client, ConfigMap, "doomed", namespace=namespace)
    assert not await kube.delete_if_exists(client, ConfigMap, "doomed", namespace=namespace)
