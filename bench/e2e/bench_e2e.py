"""End-to-end latency: from a sandbox's create request to its Sandbox object in the cluster,
and to Ready (in the cluster, and as the control plane reports it), over N sandboxes.

Everything runs as it does in `make demo`, as separate processes: a local cluster, the control
plane on SQLite (or --database-url), the agent and the operator. Sandboxes are created one at a
time (so each latency is that of an otherwise idle system) by the HTTP client. Prints JSON.

Usage: python bench/e2e/bench_e2e.py [--count 100] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from sandboxmesh.client import AsyncControlPlaneClient, ClientConfig, endpoints
from sandboxmesh.dev.cluster import ClusterConfig, LocalCluster
from sandboxmesh.dev.processes import free_port
from sandboxmesh.kube import Sandbox
from sandboxmesh.spec.crd import crd_manifest

NAMESPACE = "bench"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    milliseconds = [v * 1000 for v in values]
    return {
        "p50_ms": round(_percentile(milliseconds, 0.50), 1),
        "p99_ms": round(_percentile(milliseconds, 0.99), 1),
        "mean_ms": round(statistics.fmean(milliseconds), 1),
        "max_ms": round(max(milliseconds), 1),
    }


def _sandboxmesh(home: Path, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    output = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "sandboxmesh", *args],
        env={**os.environ, "SANDBOXMESH_HOME": str(home)},
        stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip


async def _until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


class ClusterTimes:
    """When each Sandbox object first appeared, and first reported Ready (watch events)."""

    def __init__(self) -> None:
        self.appeared: dict[str, float] = {}
        self.ready: dict[str, float] = {}

    async def watch(self, client: AsyncClient) -> None:
        async for _, obj in client.watch(Sandbox):
            now = time.monotonic()
            name = obj.metadata.name
            self.appeared.setdefault(name, now)
            if (obj.status or {}).get("phase") == "Ready":
                self.ready.setdefault(name, now)


async def main(count: int, database_url: str | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    database_url = database_url or f"sqlite:///{home / 'controlplane.db'}"
    processes: list[subprocess.Popen[bytes]] = []
    with LocalCluster(ClusterConfig(nodes=4, crds=[crd_manifest()])) as cluster:
        kube = AsyncClient(config=KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        for namespace in (NAMESPACE, "sandboxmesh-system"):
            await kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
        baseline = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "checkout", "namespace": NAMESPACE},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "checkout"}},
                     "template": {"metadata": {"labels": {"app": "checkout"}},
                                  "spec": {"containers": [{"name": "app", "image": "c:1"}]}}},
        }  # fmt: skip
        await kube.create(Deployment.from_dict(baseline))
        bootstrap = subprocess.run(
            [sys.executable, "-m", "sandboxmesh", "admin", "bootstrap", "--org=bench",
             "--email=bench@example.com", f"--database-url={database_url}", "-o", "json"],
            env={**os.environ, "SANDBOXMESH_HOME": str(home)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = json.loads(bootstrap.stdout)["token"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        processes.append(_sandboxmesh(home, "server", "--database-url", database_url,
                                      "--port", str(port), log=home / "server.log"))  # fmt: skip
        client = AsyncControlPlaneClient(ClientConfig(url, token))
        try:
            await _until(lambda: _ready(url), 60, "the control plane")
            await client.send(endpoints.set_organization_quota(count + 10))
            registered = await client.send(endpoints.register_cluster("bench"))
            token_file = home / "cluster-token"
            token_file.write_text(registered.token)
            processes.append(_sandboxmesh(
                home, "operator", f"--kubeconfig={cluster.kubeconfig}", "--probe-port=0",
                "--log-level=WARNING", log=home / "operator.log",
            ))  # fmt: skip
            processes.append(_sandboxmesh(
                home, "agent", f"--url={url}", f"--token-file={token_file}",
                f"--kubeconfig={cluster.kubeconfig}", "--probe-port=0", "--log-level=WARNING",
                log=home / "agent.log",
            ))  # fmt: skip
            # Measure a running system: wait until the agent has connected (its first poll).
            await _until(lambda: _connected(client), 60, "the agent to connect")
            times = ClusterTimes()
            watcher = asyncio.ensure_future(times.watch(kube))
            created: dict[str, float] = {}
            reported: dict[str, float] = {}
            for index in range(count):
                name = f"sbx-{index:04d}"
                document = {"name": name, "spec": {"cluster": "bench", "forks": [
                    {"forkOf": {"namespace": NAMESPACE, "name": "checkout"}}]}}  # fmt: skip
                created[name] = time.monotonic()
                await client.send(endpoints.apply_sandbox(document))
                await _until(lambda name=name: _reported_ready(client, name, reported), 120,
                             f"{name} Ready in the control plane")  # fmt: skip
            watcher.cancel()
        finally:
            await client.aclose()
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
            await kube.close()
    names = list(created)
    return {
        "benchmark": "e2e",
        "sandboxes": count,
        "database": database_url.split(":", 1)[0],
        "create_to_sandbox_object": _summary([times.appeared[n] - created[n] for n in names]),
        "create_to_ready_in_cluster": _summary([times.ready[n] - created[n] for n in names]),
        "create_to_ready_in_control_plane": _summary([reported[n] - created[n] for n in names]),
        "note": "control-plane Ready is polled every 100 ms; cluster times come from a watch",
    }


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _connected(client: AsyncControlPlaneClient) -> bool:
    cluster = await client.send(endpoints.get_cluster("bench"))
    return cluster.connection == "connected"


async def _reported_ready(
    client: AsyncControlPlaneClient, name: str, reported: dict[str, float]
) -> bool:
    sandbox = await client.send(endpoints.get_sandbox(name))
    if sandbox.status.phase == "Ready":
        reported[name] = time.monotonic()
        return True
    return False


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.count, args.database_url)), indent=2))
