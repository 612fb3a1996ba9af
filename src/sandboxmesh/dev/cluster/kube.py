"""The few Kubernetes API calls that bringing up a local cluster needs (lightkube)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from lightkube import Client, KubeConfig, codecs
from lightkube.models.core_v1 import NodeSpec, Taint
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Node, ServiceAccount

from sandboxmesh.kube import errors as kube_errors

FIELD_MANAGER = "sandboxmesh-localcluster"


@contextmanager
def admin_client(kubeconfig: Path) -> Iterator[Client]:
    client = Client(config=KubeConfig.from_file(kubeconfig), field_manager=FIELD_MANAGER)
    try:
        yield client
    finally:
        client.close()


def tls_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """Trust the cluster's CA and present a client certificate."""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    return context


def apiserver_ready(server: str, context: ssl.SSLContext) -> bool:
    response = httpx.get(f"{server}/readyz", verify=context, timeout=2)
    return response.status_code == 200


def create_fake_node(
    client: Client, name: str, annotation: str, taints: list[dict[str, str]] | None = None
) -> None:
    """A Node that KWOK manages (selected by annotation) and the scheduler can place Pods on,
    labelled as KWOK's docs do; `taints` keep Pods that do not tolerate them away."""
    node = Node(
        metadata=ObjectMeta(
            name=name,
            annotations={annotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            labels={
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        ),
        spec=NodeSpec(
            taints=[Taint(key=t["key"], value=t["value"], effect=t["effect"]) for t in taints or []]
        ),
    )
    try:
        client.create(node)
    except kube_errors.CLIENT_ERRORS as error:
        refused = kube_errors.refusal(error)
        if refused is None or refused.code != 409:  # 409: it exists already
            raise


def apply_manifest(client: Client, manifest: dict[str, Any]) -> None:
    client.apply(codecs.from_dict(manifest), force=True)


def ready_node_count(client: Client) -> int:
    count = 0
    for node in client.list(Node):
        conditions = (node.status.conditions if node.status else None) or []
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            count += 1
    return count


def service_account_exists(client: Client, namespace: str, name: str) -> bool:
    try:
        client.get(ServiceAccount, name=name, namespace=namespace)
    except kube_errors.CLIENT_ERRORS as error:
        if kube_errors.is_not_found(error):
            return False
        raise
    return True


def crd_established(client: Client, name: str) -> bool:
    crd = client.get(CustomResourceDefinition, name=name)
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)
