"""Operator benchmark: 200 sandboxes to Ready, against the same objects created directly.

In one run, on a fresh local cluster:
1. baseline: a plain async client creates the 200 fork Deployments and Services the operator
   would create (computed by the same pure function), and waits for all 200 to be ready;
2. operator: the same 200 as Sandbox objects, reconciled by `sandboxmesh operator` running as
   a separate process, until all 200 report Ready;
3. at rest: the operator's CPU use and memory over an idle window with the 200 sandboxes.

The operator runs as a user of its own, and the API server's audit log counts its requests
from its start until it came to rest (`api_requests`: by verb and resource, kopf's own apart).

Prints one JSON object. Usage: python bench/operator/bench_operator.py [--count 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.types import PatchType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_counts import count_requests
from sandboxmesh.dev.cluster import ClusterConfig, LocalCluster
from sandboxmesh.dev.processes import free_port
from sandboxmesh.kube import Sandbox
from sandboxmesh.operator.forks import SandboxIdentity, desired_fork
from sandboxmesh.spec import Fork
from sandboxmesh.spec.crd import crd_manifest

NAMESPACE = "bench"
#: The operator runs as a user of its own, so that the audit log tells its requests apart.
OPERATOR_USER = "bench-operator"
CONCURRENCY = 20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def _gather_limited(coros: list[Any]) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def run(coro: Any) -> None:
        async with semaphore:
            await coro

    await asyncio.gather(*(run(c) for c in coros))


async def _setup_baseline(client: AsyncClient) -> dict[str, Any]:
    await client.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
    await client.create(Namespace(metadata=ObjectMeta(name="sandboxmesh-system")))
    labels = {"app": "checkout"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": NAMESPACE},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": "checkout:1"}]}},
        },
    }  # fmt: skip
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "checkout", "namespace": NAMESPACE},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    await client.patch(
        Deployment,
        "checkout",
        deployment,
        namespace=NAMESPACE,
        patch_type=PatchType.APPLY,
        field_manager="bench",
    )
    await client.patch(
        Service,
        "checkout",
        service,
        namespace=NAMESPACE,
        patch_type=PatchType.APPLY,
        field_manager="bench",
    )
    live = await client.get(Deployment, "checkout", namespace=NAMESPACE)
    baseline: dict[str, Any] = live.to_dict()
    return baseline


async def _count_ready_deployments(client: AsyncClient, prefix: str) -> int:
    count = 0
    async for deployment in client.list(Deployment, namespace=NAMESPACE):
        name = deployment.metadata.name if deployment.metadata else ""
        ready = deployment.status.readyReplicas if deployment.status else 0
        if name and name.startswith(prefix) and ready == 1:
            count += 1
    return count


async def _wait(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if await predicate():
                return
        except httpx2.TimeoutException:
            pass  # a busy API server: ask again
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.2)


async def direct_run(client: AsyncClient, baseline: dict[str, Any], count: int) -> float:
    """The plain-client baseline: create the forks' objects directly, wait until ready."""
    services = [(await client.get(Service, "checkout", namespace=NAMESPACE)).to_dict()]
    fork = Fork.model_validate({"forkOf": {"namespace": NAMESPACE, "name": "checkout"}})
    manifests = []
    for index in range(count):
        identity = SandboxIdentity(f"direct-{index}", "unused", f"directkey{index:07d}")
        desired = desired_fork(identity, fork, baseline, services)
        for manifest in (desired.deployment, *desired.services):
            manifest["metadata"].pop("ownerReferences")  # no Sandbox owns them
            manifests.append(manifest)

    async def apply(manifest: dict[str, Any]) -> None:
        kind = Deployment if manifest["kind"] == "Deployment" else Service
        await client.patch(
            kind,
            manifest["metadata"]["name"],
            manifest,
            namespace=NAMESPACE,
            patch_type=PatchType.APPLY,
            field_manager="bench",
        )

    started = time.monotonic()
    await _gather_limited([apply(m) for m in manifests])
    await _wait(lambda: _ready_at_least(client, "checkout-sbx-direct-", count), 600)
    elapsed = time.monotonic() - started
    await _gather_limited([
        client.delete(Deployment if m["kind"] == "Deployment" else Service,
                      m["metadata"]["name"], namespace=NAMESPACE)
        for m in manifests
    ])  # fmt: skip
    return elapsed


async def _ready_at_least(client: AsyncClient, prefix: str, count: int) -> bool:
    return await _count_ready_deployments(client, prefix) >= count


async def operator_run(client: AsyncClient, count: int) -> float:
    async def create(index: int) -> None:
        body = {
            "apiVersion": "sandboxmesh.io/v1alpha1", "kind": "Sandbox",
            "metadata": {"name": f"op-{index}"},
            "spec": {"cluster": "bench", "routingKey": f"benchkey{index:08d}",
                     "forks": [{"forkOf": {"namespace": NAMESPACE, "name": "checkout"}}]},
        }  # fmt: skip
        await client.create(Sandbox.from_dict(body))  # type: ignore[no-untyped-call]

    async def all_ready() -> bool:
        ready = 0
        async for sandbox in client.list(Sandbox):
            status = sandbox.status or {}
            ready += status.get("phase") == "Ready"
        return ready >= count

    started = time.monotonic()
    await _gather_limited([create(i) for i in range(count)])
    await _wait(all_ready, 900)
    return time.monotonic() - started


async def _reconciles(port: int) -> float:
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sandboxmesh_operator_reconciles_total")
    )


async def _wait_for_rest(port: int, quiet: float = 5.0) -> float:
    """At rest: no reconcile for `quiet` seconds (the last status writes and events are done).

    Returns how long that took after the last sandbox turned Ready."""
    started = time.monotonic()
    last, last_change = await _reconciles(port), time.monotonic()
    while time.monotonic() - last_change < quiet:
        await asyncio.sleep(0.5)
        now = await _reconciles(port)
        if now != last:
            last, last_change = now, time.monotonic()
    return time.monotonic() - started


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(count: int, rest_seconds: float) -> dict[str, Any]:
    config = ClusterConfig(
        nodes=6, crds=[crd_manifest()], audit_log=True, extra_admins=[OPERATOR_USER]
    )
    with LocalCluster(config) as cluster:
        client = AsyncClient(
            config=KubeConfig.from_file(cluster.kubeconfig),
            field_manager="bench",
            timeout=httpx2.Timeout(60),
        )
        baseline = await _setup_baseline(client)
        direct = await direct_run(client, baseline, count)
        await _wait(lambda: _gone(client), 300)

        log_path = Path(tempfile.mkdtemp(prefix="bench-operator-")) / "operator.log"
        probe_port = free_port()
        with log_path.open("wb") as log:
            operator = subprocess.Popen(
                [sys.executable, "-m", "sandboxmesh", "operator",
                 f"--kubeconfig={cluster.workdir / f'{OPERATOR_USER}.kubeconfig'}",
                 f"--probe-port={probe_port}",
                 "--probe-host=127.0.0.1", "--log-level=WARNING"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            via_operator = await operator_run(client, count)
            settle = await _wait_for_rest(probe_port)
            at_rest = datetime.now(UTC)
            cpu_before, wall_before = _cpu_seconds(operator.pid), time.monotonic()
            await asyncio.sleep(rest_seconds)
            cpu_after, wall_after = _cpu_seconds(operator.pid), time.monotonic()
            rss = _rss_mib(operator.pid)
            # Requests from the operator's start until it came to rest (the batched audit
            # log is flushed within a second; the rest window is longer).
            requests = count_requests(cluster.audit_log_path, OPERATOR_USER, until=at_rest)
        finally:
            operator.terminate()
            operator.wait(timeout=30)
            await client.close()
    return {
        "benchmark": "operator",
        "sandboxes": count,
        "direct_seconds": round(direct, 2),
        "operator_seconds": round(via_operator, 2),
        "ratio_operator_to_direct": round(via_operator / direct, 2),
        "operator_sandboxes_per_second": round(count / via_operator, 1),
        "seconds_from_all_ready_to_rest": round(settle, 1),
        "rest_window_seconds": rest_seconds,
        "rest_cpu_percent": round(100 * (cpu_after - cpu_before) / (wall_after - wall_before), 2),
        "rest_rss_mib": round(rss, 1),
        "api_requests_per_sandbox": round(requests["total"] / count, 1),
        "api_requests": requests,
    }


async def _gone(client: AsyncClient) -> bool:
    return await _count_ready_deployments(client, "checkout-sbx-direct-") == 0 and not [
        d
        async for d in client.list(Deployment, namespace=NAMESPACE)
        if d.metadata and d.metadata.name and d.metadata.name.startswith("checkout-sbx-direct-")
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rest-seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.count, args.rest_seconds)), indent=2))
