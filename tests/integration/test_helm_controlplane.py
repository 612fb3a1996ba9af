"""deploy/helm/sandboxmesh-controlplane on the real node: two server replicas on the suite's
PostgreSQL (migrated once, by the chart's hook Job), reached through a NodePort from this host,
and the agent of the other chart talking to it by its in-cluster name."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Secret
from sqlalchemy.engine import make_url
from tests.support import databases
from tests.support.eventually import eventually
from tests.support.system import bootstrap
from tests.support.tcp_relay import relay

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node import archives
from sandboxmesh.dev.cluster.node.configs import NODE_IP, NODE_NAME, NodeLayout
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(600)]

CHARTS = Path(__file__).resolve().parents[2] / "deploy" / "helm"
CP_NAMESPACE, AGENT_NAMESPACE = "sandboxmesh-cp", "sandboxmesh-agent"
NODE_PORT = 30880


def _helm(target: KubeTarget, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Binaries.locate().helm), *args, f"--kubeconfig={target.kubeconfig}"],
        capture_output=True, text=True, timeout=420,
    )  # fmt: skip


def _render(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(Binaries.locate().helm), "template", "cp", str(CHARTS / "sandboxmesh-controlplane"),
         "--set", "database.urlSecret=db", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_the_chart_migrates_once_and_runs_without_cluster_rights() -> None:
    documents = _render()
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["Deployment", "Job", "PodDisruptionBudget", "Service"]
    (job,) = [d for d in documents if d["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # it never calls into a cluster
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["SANDBOXMESH_DATABASE__MIGRATE_ON_START"]["value"] == "false"
    assert env["SANDBOXMESH_DATABASE__URL"]["valueFrom"]["secretKeyRef"]["name"] == "db"
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert not [d for d in _render("--set", "replicas=1") if d["kind"] == "PodDisruptionBudget"]
    missing = subprocess.run(
        [str(Binaries.locate().helm), "template", "cp", str(CHARTS / "sandboxmesh-controlplane")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "database.urlSecret is required" in missing.stderr


def _revision(url: str) -> str:
    async def read() -> str:
        connection = await asyncpg.connect(url)
        try:
            return str(await connection.fetchval("SELECT version_num FROM alembic_version"))
        finally:
            await connection.close()

    return asyncio.run(read())


def test_two_replicas_on_postgresql_serve_the_agent_of_the_other_chart(
    real_node_target: KubeTarget, tmp_path: Path
) -> None:
    admin_url = databases.postgres_admin_url()
    if admin_url is None:
        pytest.skip(databases.SKIP_POSTGRES)
    assert real_node_target.local is not None
    socket = NodeLayout(real_node_target.local.workdir / "node").containerd_socket
    if catalog.SANDBOXMESH_IMAGE not in archives.list_images(socket):
        archives.load([catalog.builder().build(catalog.IMAGES[0])], socket)
    local_url = databases.create_empty_postgres_database(admin_url)
    parsed = make_url(local_url)
    client = real_node_target.client()
    with relay(NODE_IP, (parsed.host or "127.0.0.1", parsed.port or 5432)) as relay_port:
        pod_url = parsed.set(host=NODE_IP, port=relay_port).render_as_string(hide_password=False)
        try:
            for namespace in (CP_NAMESPACE, AGENT_NAMESPACE):
                client.create(Namespace(metadata=ObjectMeta(name=namespace)))
            client.create(Secret(metadata=ObjectMeta(name="db", namespace=CP_NAMESPACE),
                                 stringData={"url": pod_url}))  # fmt: skip
            public = f"http://{NODE_IP}:{NODE_PORT}"
            installed = _helm(
                real_node_target, "install", "sandboxmesh-controlplane",
                str(CHARTS / "sandboxmesh-controlplane"), "-n", CP_NAMESPACE,
                "--set", "database.urlSecret=db", "--set", f"publicUrl={public}",
                "--set", "service.type=NodePort", "--set", f"service.nodePort={NODE_PORT}",
                "--wait", "--timeout", "5m",
            )  # fmt: skip
            assert installed.returncode == 0, installed.stderr
            servers = [
                p for p in client.list(Pod, namespace=CP_NAMESPACE)
                if (p.metadata.labels or {}).get("app.kubernetes.io/component") == "controlplane"  # type: ignore[union-attr]
                and p.status is not None and p.status.phase == "Running"
            ]  # fmt: skip
            assert len(servers) == 2
            assert all(p.spec is not None and p.spec.nodeName == NODE_NAME for p in servers)
            assert _revision(local_url)  # the hook Job migrated it
            assert httpx.get(f"{public}/readyz", timeout=5).status_code == 200

            token = bootstrap(local_url, tmp_path)
            env = {**os.environ, "SANDBOXMESH_HOME": str(tmp_path), "SANDBOXMESH_URL": public,
                   "SANDBOXMESH_TOKEN": token}  # fmt: skip

            def cli(*args: str) -> Any:
                argv = [sys.executable, "-m", "sandboxmesh", *args, "-o", "json"]
                result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
                assert result.returncode == 0, result.stderr
                return json.loads(result.stdout)

            agent_token = cli("cluster", "register", "real")["token"]
            client.create(Secret(metadata=ObjectMeta(name="agent-token", namespace=AGENT_NAMESPACE),
                                 stringData={"token": agent_token}))  # fmt: skip
            in_cluster = f"http://sandboxmesh-controlplane.{CP_NAMESPACE}.svc.cluster.local:8080"
            agent = _helm(
                real_node_target, "install", "sandboxmesh", str(CHARTS / "sandboxmesh"),
                "-n", AGENT_NAMESPACE, "--set", f"controlPlane.url={in_cluster}",
                "--set", "agent.tokenSecret=agent-token", "--set", "routeServer.enabled=false",
                "--set", "operator.enabled=false", "--wait", "--timeout", "3m",
            )  # fmt: skip
            assert agent.returncode == 0, agent.stderr
            cluster = eventually(
                lambda: (c := cli("cluster", "get", "real"))["connection"] == "connected" and c,
                timeout=60, what="the agent connected through the Service", interval=1,
            )  # fmt: skip
            assert cluster["agentVersion"]
        finally:
            for release, namespace in (("sandboxmesh", AGENT_NAMESPACE),
                                       ("sandboxmesh-controlplane", CP_NAMESPACE)):  # fmt: skip
                _helm(real_node_target, "uninstall", release, "-n", namespace, "--wait")
                with contextlib.suppress(ApiError):
                    client.delete(Namespace, namespace)
            client.close()
            databases.drop_postgres_database(admin_url, local_url)
