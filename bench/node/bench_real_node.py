"""The real node: a sandbox's fork to Ready beside a bare Deployment to Ready, the latency a
router Pod adds, and the memory of each component's Pod at rest. Prints JSON.

One local cluster with a real node (`LocalCluster(real_node=True)`), images from
`sandboxmesh dev images build` (loaded here). Three phases, in one run:

1. Forks: the control plane (SQLite, on the node's address), the agent and the operator as
   processes on this host, a baseline Deployment of the demo app. N times, alternating which
   goes first: `sandbox apply` through the API until the Sandbox is Ready in the cluster (its
   fork's Pod Ready), and a bare apply of the same Deployment (another name) until Available.
2. Routing: an HTTP/1.1 keep-alive backend in a Pod, the route server (managing routers) on
   this host; latency and throughput straight to the Pod IP, through the Service without a
   router (kube-proxy only), and through the Service with its router Pods (Envoy).
3. Memory: the chart installed (agent, operator, route server, talking to the control plane of
   phase 1), then at rest, each Pod's working set as the kubelet reports it (stats/summary).

Usage: python bench/node/bench_real_node.py [--count 20] [--requests 5000] [--seconds 5]
       [--readiness-probe] [--forks-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret, Service

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "routing"))
from http_load import latency, throughput

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import POD_STEPS, SANDBOX_STEPS, Steps, medians

from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.dev.cluster import Binaries, ClusterConfig, LocalCluster
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node import archives
from sandboxmesh.dev.cluster.node.configs import NODE_IP, NODE_NAME, NodeLayout
from sandboxmesh.dev.processes import free_port
from sandboxmesh.kube import Sandbox
from sandboxmesh.routing.core import routers
from sandboxmesh.spec.crd import crd_manifest

NAMESPACE = "bench"
CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "sandboxmesh"
#: A keep-alive HTTP/1.1 responder for the routing phase (the demo app answers HTTP/1.0).
BACKEND = """
import asyncio
BODY = b'{"servedBy": "backend"}'
RESPONSE = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: "
            + str(len(BODY)).encode() + b"\\r\\n\\r\\n" + BODY)
class Responder(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        count = self.buffer.count(b"\\r\\n\\r\\n")
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\\r\\n\\r\\n") + 4:]
            self.transport.write(RESPONSE * count)
async def main():
    server = await asyncio.get_running_loop().create_server(Responder, "0.0.0.0", 8080)
    await server.serve_forever()
asyncio.run(main())
"""


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "p50_ms": round(_percentile(ms, 0.5), 1),
        "p99_ms": round(_percentile(ms, 0.99), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def _until(check: Callable[[], Any], within: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def _deployment(
    name: str, image: str, command: list[str] | None = None, *, probe: bool = True
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "DEMO_SERVICE", "value": name}],
        "ports": [{"containerPort": 8080}],
    }
    if probe:
        container["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    if command:
        container["command"] = command
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [container]}}},
    }  # fmt: skip


def _available(client: Client, name: str) -> bool:
    deployment = client.get(Deployment, name, namespace=NAMESPACE)
    return bool(deployment.status and (deployment.status.readyReplicas or 0) >= 1)


def _sandbox_ready(client: Client, name: str) -> bool:
    sandbox = client.get(Sandbox, name)
    return bool((sandbox.status or {}).get("phase") == "Ready")


@contextlib.contextmanager
def _process(home: Path, name: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with (home / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandboxmesh", *args],
            env={**os.environ, "SANDBOXMESH_HOME": str(home)},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _forks(
    client: Client, plane: ControlPlaneClient, count: int, watching: Steps, probe: bool
) -> dict[str, Any]:
    # Without a readiness probe by default: a probe ticks once a second, and a Pod turns
    # Ready at the first tick after its app listens, which rounds each start to the tick
    # (medians moved between about 1 s and 2 s from run to run, on either path alike).
    # Without one, Ready is the container started: what remains is the paths' own time.
    client.apply(Deployment.from_dict(_deployment("checkout", catalog.DEMO_APP_IMAGE, probe=probe)))
    _until(lambda: _available(client, "checkout"), 120, "the baseline")
    sandboxed: list[float] = []
    bare: list[float] = []
    # (name, start) of each; their steps are read at the end, when every watch event is in.
    sandbox_starts: list[tuple[str, float]] = []
    bare_starts: list[tuple[str, float]] = []
    for index in range(count):

        def sandbox(index: int = index) -> None:
            name = f"sbx-{index:03d}"
            started = time.monotonic()
            plane.send(endpoints.apply_sandbox({"name": name, "spec": {"cluster": "bench",
                "forks": [{"forkOf": {"namespace": NAMESPACE, "name": "checkout"}}]}}))  # fmt: skip
            _until(lambda: _sandbox_ready(client, name), 120, f"{name} Ready")
            sandboxed.append(time.monotonic() - started)
            sandbox_starts.append((name, started))

        def plain(index: int = index) -> None:
            name = f"bare-{index:03d}"
            started = time.monotonic()
            client.apply(
                Deployment.from_dict(_deployment(name, catalog.DEMO_APP_IMAGE, probe=probe))
            )
            _until(lambda: _available(client, name), 120, f"{name} available")
            bare.append(time.monotonic() - started)
            bare_starts.append((name, started))

        for step in (sandbox, plain) if index % 2 == 0 else (plain, sandbox):
            step()
    for starts, last in ((sandbox_starts, "sandbox_ready"), (bare_starts, "available")):
        for name, _ in starts:
            _until(lambda n=name, s=last: s in watching.times(n, 0), 10, f"{name}'s watch events")
    sandbox_steps = [watching.times(name, started) for name, started in sandbox_starts]
    bare_steps = [watching.times(name, started) for name, started in bare_starts]
    ratio_p50 = _percentile(sandboxed, 0.5) / _percentile(bare, 0.5)
    ratio_p99 = _percentile(sandboxed, 0.99) / _percentile(bare, 0.99)
    return {
        "sandboxes": count,
        "sandbox_apply_to_fork_ready": _summary(sandboxed),
        "bare_apply_to_available": _summary(bare),
        "ratio_p50": round(ratio_p50, 2),
        "ratio_p99": round(ratio_p99, 2),
        "target_ratio": 1.2,
        "readiness_probe": probe,
        # Seconds from the apply to each step, as watch events arrived (median; bench/node/steps.py)
        "steps_sandbox_p50_s": medians(sandbox_steps, SANDBOX_STEPS),
        "steps_bare_p50_s": medians(bare_steps, POD_STEPS),
    }


def _routing(
    client: Client, home: Path, kubeconfig: Path, requests: int, seconds: float
) -> dict[str, Any]:
    client.apply(Deployment.from_dict(
        _deployment("echo", catalog.DEMO_APP_IMAGE, ["python3", "-c", BACKEND])))  # fmt: skip
    client.apply(Service.from_dict({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "echo", "namespace": NAMESPACE},
        "spec": {"selector": {"app": "echo"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }))  # fmt: skip
    _until(lambda: _available(client, "echo"), 120, "the echo backend")
    pod = next(iter(client.list(Pod, namespace=NAMESPACE, labels={"app": "echo"})))
    pod_ip = pod.status.podIP  # type: ignore[union-attr]
    service = client.get(Service, "echo", namespace=NAMESPACE)
    cluster_ip = service.spec.clusterIP  # type: ignore[union-attr]
    figures: dict[str, Any] = {
        "pod_ip": latency(8080, {}, requests, host=pod_ip),
        "service_kube_proxy": latency(80, {}, requests, host=cluster_ip),
    }
    xds = free_port()
    with _process(
        home, "route-server", "route-server", f"--kubeconfig={kubeconfig}",
        f"--xds-host={NODE_IP}", f"--xds-port={xds}", f"--http-port={free_port()}",
        "--manage-routers", f"--router-xds-address={NODE_IP}:{xds}", "--router-replicas=1",
        "--log-level=WARNING",
    ):  # fmt: skip
        annotate = {"metadata": {"annotations": {routers.ANNOTATION_ROUTE: "true"}}}
        client.patch(Service, "echo", namespace=NAMESPACE, obj=annotate)

        def routed() -> bool:
            selector = client.get(Service, "echo", namespace=NAMESPACE).spec.selector or {}  # type: ignore[union-attr]
            return routers.LABEL_ROUTER in selector

        _until(routed, 180, "the router in front of echo", interval=0.5)
        _until(lambda: latency(80, {}, 1, host=cluster_ip), 30, "the router answering")
        figures["service_router_pod"] = latency(80, {}, requests, host=cluster_ip)
        figures["rps_pod_ip"] = throughput(8080, {}, 16, seconds, host=pod_ip)
        figures["rps_router_pod"] = throughput(80, {}, 16, seconds, host=cluster_ip)
    direct, routed_ = figures["pod_ip"], figures["service_router_pod"]
    figures["router_adds_p50_us"] = round(routed_["p50_us"] - direct["p50_us"], 1)
    figures["router_adds_p99_us"] = round(routed_["p99_us"] - direct["p99_us"], 1)
    figures["throughput_ratio"] = round(figures["rps_router_pod"] / figures["rps_pod_ip"], 2)
    return figures


def _memory(client: Client, kubeconfig: Path, url: str, agent_token: str) -> dict[str, Any]:
    system = "sandboxmesh-system"
    client.create(Secret(metadata=ObjectMeta(name="agent-token", namespace=system),
                         stringData={"token": agent_token}))  # fmt: skip
    subprocess.run(
        [str(Binaries.locate().helm), "install", "sandboxmesh", str(CHART), "-n", system,
         "--set", f"controlPlane.url={url}", "--set", "agent.tokenSecret=agent-token",
         "--wait", "--timeout", "4m", f"--kubeconfig={kubeconfig}"],
        check=True, capture_output=True,
    )  # fmt: skip
    time.sleep(30)  # at rest: the figure is a steady state, not a wait for an event
    summary = _kubelet_summary(kubeconfig)  # the kubelet's own figures (cAdvisor)
    memory = {}
    for pod in summary["pods"]:
        ref = pod["podRef"]
        # The components, the routers, and one Pod of the demo app for scale (the forks and
        # the bare Deployments are copies of it).
        if (
            ref["namespace"] == system
            or "router" in ref["name"]
            or (ref["name"].startswith("checkout-") and ref["name"].count("-") == 2)
        ):
            working = pod.get("memory", {}).get("workingSetBytes", 0)
            memory[f"{ref['namespace']}/{ref['name'].rsplit('-', 2)[0]}"] = round(
                working / 2**20, 1
            )
    return {"working_set_mib": dict(sorted(memory.items()))}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kubelet_summary(kubeconfig: Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(Binaries.locate().kubectl), f"--kubeconfig={kubeconfig}", "get", "--raw",
         f"/api/v1/nodes/{NODE_NAME}/proxy/stats/summary"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def main(
    count: int, requests: int, seconds: float, *, probe: bool = False, forks_only: bool = False
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-node-"))
    started = time.monotonic()
    with LocalCluster(ClusterConfig(nodes=0, real_node=True, crds=[crd_manifest()],
                                    start_timeout=180)) as cluster:  # fmt: skip
        cluster_start = time.monotonic() - started
        socket = NodeLayout(cluster.workdir / "node").containerd_socket
        builder = catalog.builder()
        loading = time.monotonic()
        archives.load([builder.build(spec) for spec in catalog.IMAGES], socket)
        load_seconds = time.monotonic() - loading
        client = Client(config=KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        # The operator's Lease lives in sandboxmesh-system, where the chart goes in phase 3.
        for namespace in (NAMESPACE, "sandboxmesh-system"):
            client.create(Namespace(metadata=ObjectMeta(name=namespace)))
        database = f"sqlite+aiosqlite:///{home / 'cp.db'}"
        bootstrap = subprocess.run(
            [sys.executable, "-m", "sandboxmesh", "admin", "bootstrap", "--org=bench",
             "--email=bench@example.com", f"--database-url={database}", "-o", "json"],
            env={**os.environ, "SANDBOXMESH_HOME": str(home)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        port = free_port()
        url = f"http://{NODE_IP}:{port}"
        with _process(home, "server", "server", f"--database-url={database}",
                      f"--host={NODE_IP}", f"--port={port}") as server:  # fmt: skip
            _until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 60, "the control plane")
            plane = ControlPlaneClient(ClientConfig(url, json.loads(bootstrap.stdout)["token"]))
            plane.send(endpoints.set_organization_quota(count + 10))
            token = plane.send(endpoints.register_cluster("bench")).token
            token_file = home / "cluster-token"
            token_file.write_text(token)
            with (
                _process(home, "operator", "operator", f"--kubeconfig={cluster.kubeconfig}",
                         "--probe-port=0", "--log-level=WARNING") as operator,
                _process(home, "agent", "agent", f"--url={url}", f"--token-file={token_file}",
                         f"--kubeconfig={cluster.kubeconfig}", "--probe-port=0",
                         "--log-level=WARNING") as agent,
            ):  # fmt: skip
                _until(lambda: plane.send(endpoints.get_cluster("bench")).connection
                       == "connected", 60, "the agent")  # fmt: skip
                components = {"operator": operator, "agent": agent, "control_plane": server}
                before = {name: _cpu_seconds(p.pid) for name, p in components.items()}
                with Steps(cluster.kubeconfig, NAMESPACE) as watching:
                    forks = _forks(client, plane, count, watching, probe)
                # What our components spend while forks start: the CPU a fork's own start
                # competes with on this node (the bare path has no such neighbour).
                forks["cpu_ms_per_sandbox"] = {
                    name: round((_cpu_seconds(p.pid) - before[name]) * 1000 / count, 1)
                    for name, p in components.items()
                }
            routing, memory = {}, {}
            if not forks_only:
                routing = _routing(client, home, cluster.kubeconfig, requests, seconds)
                memory = _memory(client, cluster.kubeconfig, url, token)
            plane.close()
        client.close()
    return {
        "benchmark": "real_node",
        "cluster_start_s": round(cluster_start, 1),
        "image_load_s": round(load_seconds, 1),
        "forks": forks,
        "routing": routing,
        "memory": memory,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--readiness-probe", action="store_true", help="give the forked Deployment a TCP probe"
    )
    parser.add_argument("--forks-only", action="store_true", help="skip routing and memory")
    args = parser.parse_args()
    figures = main(
        args.count,
        args.requests,
        args.seconds,
        probe=args.readiness_probe,
        forks_only=args.forks_only,
    )
    print(json.dumps(figures, indent=2))
