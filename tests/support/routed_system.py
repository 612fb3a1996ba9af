"""The whole system on the real node, as the end-to-end tests need it: the control plane on
this host at the node's address (standing for the hosted one), the chart installed as a user
installs it, and the demo app behind its routers in a namespace of its own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Namespace
from tests.support.system import Process, start_server

from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.controlplane.bootstrap import bootstrap as controlplane_bootstrap
from sandboxmesh.controlplane.domain import plans
from sandboxmesh.controlplane.passwords import hash_password
from sandboxmesh.dev.cluster.node.configs import NODE_IP
from sandboxmesh.dev.demo import in_cluster, routed_app
from sandboxmesh.dev.demo.routed_app import RoutedApp
from sandboxmesh.dev.pytest_plugin import KubeTarget, RealNodeCluster

CLUSTER = "local"


@dataclass(frozen=True)
class Account:
    org: str
    email: str
    password: str


@dataclass
class RoutedSystem:
    app: RoutedApp
    api: ControlPlaneClient
    kube: Client
    namespace: str
    server: Process
    #: The owner's API token.
    token: str
    target: KubeTarget
    database: Path


def bootstrap_account(database_url: str, account: Account) -> str:
    """An organisation whose owner has a portal account; returns the owner's API token."""

    async def run() -> str:
        return await controlplane_bootstrap(
            database_url, org=account.org, owner_email=account.email, plan=plans.Plan.TEAM,
            token_ttl=timedelta(days=1), password_hash=await hash_password(account.password),
        )  # fmt: skip

    return asyncio.run(run())


@contextlib.contextmanager
def routed_system(
    cluster: RealNodeCluster, home: Path, owner: Account, values: dict[str, str]
) -> Iterator[RoutedSystem]:
    """Start it all (chart `values` beyond the control plane's URL and token), yield it, and
    take it all down again."""
    target = cluster.target()
    assert target.local is not None
    in_cluster.load_images(target.local)
    namespace = f"app-{uuid.uuid4().hex[:6]}"
    kube = target.client()
    database = home / "controlplane.db"
    database_url = f"sqlite:///{database}"
    token = bootstrap_account(database_url, owner)
    server = start_server(database_url, home, host=NODE_IP)
    api = ControlPlaneClient(ClientConfig(server.url(), token))
    install: in_cluster.Install | None = None
    try:
        cluster_token = api.send(endpoints.register_cluster(CLUSTER)).token
        install = in_cluster.Install(target.kubeconfig, server.url(), cluster_token, values=values)
        install.install()
        app = routed_app.deploy(target.kubeconfig, namespace, timeout=240)
        yield RoutedSystem(app, api, kube, namespace, server, token, target, database)
    finally:
        api.close()
        if install is not None:
            install.uninstall()
        with contextlib.suppress(ApiError):
            kube.delete(Namespace, namespace)
        kube.close()
        server.stop()
