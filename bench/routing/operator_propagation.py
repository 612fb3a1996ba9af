"""Route propagation with the real operator: from a Sandbox turning Ready (as a watch sees
it) to the first request whose second hop the fork serves.

On a fresh local cluster with a real node: the chart's operator, route server and routers as
Pods, and the demo app behind its routers (`sandboxmesh.dev.demo.routed_app`, as `make demo` runs
it); requests enter at the frontend's NodePort.
Each round creates one Sandbox forking `checkout` (written directly, as the agent would),
watches it until Ready while a prober sends requests with its key through the frontend, then
deletes it. Reports, per round: create -> Ready, Ready -> routed (the issue's 1 s contract),
create -> routed.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from http_load import Connection, request_bytes
from lightkube import ApiError, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta

from sandboxmesh.dev.cluster import ClusterConfig, LocalCluster
from sandboxmesh.dev.demo import in_cluster, manifests, routed_app
from sandboxmesh.dev.demo.routed_app import key_headers
from sandboxmesh.kube import Sandbox
from sandboxmesh.spec import crd

NAMESPACE = "bench-hops"


def _ready_at(client: Client, name: str, since: str, out: dict[str, float]) -> None:
    for _event, obj in client.watch(
        Sandbox, fields={"metadata.name": name}, resource_version=since, server_timeout=120
    ):
        if (obj.to_dict().get("status") or {}).get("phase") == "Ready":
            out["ready"] = time.perf_counter()
            return


def _routed_at(
    host: str, port: int, name: str, key: str, timeout: float, out: dict[str, float]
) -> None:
    connection = Connection(port, host)
    request = request_bytes(key_headers(key))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            hops = json.loads(connection.get(request))["hops"]
            if any(h["service"] == "checkout" and h["version"] == name for h in hops):
                out["routed"] = time.perf_counter()
                return
    finally:
        connection.close()


def _round(client: Client, host: str, port: int, index: int) -> dict[str, float]:
    name, key = f"hops-{index}", f"hopskey{index:08d}"
    listing = client.list(Sandbox, fields={"metadata.name": name})
    assert not list(listing), f"{name} exists already"
    times: dict[str, float] = {}
    threads = [
        threading.Thread(target=_ready_at, args=(client, name, listing.resourceVersion, times)),
        threading.Thread(target=_routed_at, args=(host, port, name, key, 120, times)),
    ]
    for thread in threads:
        thread.start()
    spec = manifests.sandbox(name, cluster="local", namespace=NAMESPACE).spec
    document = {**spec.model_dump(mode="json", by_alias=True, exclude_none=True), "routingKey": key}
    times["create"] = time.perf_counter()
    client.create(Sandbox(metadata=ObjectMeta(name=name), spec=document))
    for thread in threads:
        thread.join(130)
    if "ready" not in times or "routed" not in times:
        raise TimeoutError(f"round {index}: {sorted(times)} only")
    client.delete(Sandbox, name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            client.get(Sandbox, name)
        except ApiError as error:
            if error.status.code == 404:
                break
            raise
        time.sleep(0.1)
    return times


def _summary(values_s: list[float]) -> dict[str, Any]:
    ms = sorted(round(v * 1000, 1) for v in values_s)
    return {"p50_ms": ms[len(ms) // 2], "max_ms": ms[-1], "samples_ms": ms}


def run(rounds: int) -> dict[str, Any]:
    with LocalCluster(
        ClusterConfig(nodes=1, real_node=True, crds=[crd.crd_manifest()], start_timeout=180)
    ) as cluster:
        in_cluster.load_images(cluster)
        # No control plane here: Sandboxes are written directly, so no agent either.
        in_cluster.Install(
            cluster.kubeconfig, "http://unused.invalid", "unused",
            values={"agent.enabled": "false", "operator.drainSeconds": "2"},
        ).install()  # fmt: skip
        app = routed_app.deploy(cluster.kubeconfig, NAMESPACE, timeout=240)
        frontend = urlsplit(app.frontend_url)
        assert frontend.hostname is not None
        assert frontend.port is not None
        client = Client(config=KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        try:
            samples = [_round(client, frontend.hostname, frontend.port, i) for i in range(rounds)]
        finally:
            client.close()
    return {
        "propagation_with_operator": {
            "rounds": rounds,
            "create_to_ready": _summary([s["ready"] - s["create"] for s in samples]),
            "ready_to_routed_second_hop": _summary([s["routed"] - s["ready"] for s in samples]),
            "create_to_routed_second_hop": _summary([s["routed"] - s["create"] for s in samples]),
        }
    }
