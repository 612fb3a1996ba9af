"""Routing benchmark: what real Envoy, fed by the route server, adds to a request, and how
fast a new sandbox's route goes live.

In one run:
0. against the anchor (`static_envoy`): Envoy with one static route and no xDS, same binary,
   worker count, backend and load generator; our routers with `--anchor-routes` forks each
   (50 and 1,000), requests with no key and with the last fork's key in baggage (the worst
   case: its route comes last). Rounds alternate between the Envoys, so a drift in the
   machine's load hits all of them; each round yields ratios of ours to the anchor, and the
   medians over rounds are reported (targets, issue 16: at least 0.9x of the anchor's
   requests/s, p50 within 0.1 ms of it). Envoy's own CPU time per request under load is
   reported beside them: on a shared machine it moves least with the other load;
1. latency: sequential requests on one keep-alive connection (p50/p99), direct to a local
   backend and through Envoy (no key, unknown key in baggage, a fork's key), with a route
   table of `--routes` forks on the baseline;
2. throughput: `--connections` keep-alive connections for `--seconds`, direct and through
   Envoy (requests carrying a fork's key in baggage);
3. propagation, in process: from a route-table change to the first request routed to the
   fork (xDS push + Envoy applying it);
4. propagation, end to end (unless --no-cluster): on a fresh local cluster, from the moment
   the harness writes a Sandbox's status Ready to the first request routed to its fork
   (watch + table + xDS + Envoy);
5. propagation with the real operator (unless --no-cluster or --no-operator;
   `operator_propagation`): the demo app's two hops on the real node, behind router Pods,
   from a Sandbox turning Ready as a watch sees it to the first request whose second hop
   its fork serves.

The backend is an asyncio server in its own process; the load comes from another process.
Both paths share them, so the ratios compare like with like. Prints one JSON object.
Usage: python bench/routing/bench_routing.py [--quick] [--no-cluster] [--no-operator]
       [--anchor-routes 50,1000] [--only-anchor]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import operator_propagation
import static_envoy
from http_load import Connection, backends, latency, request_bytes, throughput
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from sandboxmesh.dev.cluster import ClusterConfig, LocalCluster
from sandboxmesh.dev.local_routing.envoy_process import EnvoyProcess
from sandboxmesh.kube import Sandbox
from sandboxmesh.routing.core.bootstrap import AdsServer, envoy_bootstrap
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses
from sandboxmesh.routing.server import RouteServerSettings, RouteServerThread
from sandboxmesh.spec import ForkRef, ForkStatus, ObjectRef, Phase, SandboxStatus, crd

NAMESPACE = "bench"


# --- the data plane -------------------------------------------------------------------------


def key_for(i: int) -> str:
    return f"benchkey{i:06d}"


def fork_table(count: int) -> RouteTable:
    baseline = ServiceRef(NAMESPACE, "checkout")
    return RouteTable(
        routes={
            baseline: tuple(
                ForkRoute(key_for(i), f"sbx-{i}", ServiceRef(NAMESPACE, f"checkout-sbx-{i}"))
                for i in range(count)
            )
        }
    )


@contextlib.contextmanager
def data_plane(
    ports: dict[str, int],
    forks: int,
    workdir: Path,
    kubeconfig: Path | None = None,
    concurrency: int = 1,
    route_traces: bool = True,
) -> Iterator[tuple[RouteServerThread, EnvoyProcess, int]]:
    overrides = {
        (ServiceRef(NAMESPACE, f"checkout-sbx-{i}"), 80): Address("127.0.0.1", ports["fork"])
        for i in range(forks)
    }
    settings = RouteServerSettings(
        addresses=ServiceAddresses(overrides=overrides),
        watch=kubeconfig is not None,
        kubeconfig=kubeconfig,
        route_traces=route_traces,
    )
    front = Front(
        namespace=NAMESPACE,
        service="checkout",
        port=80,
        listen_address="127.0.0.1",
        listen_port=0,
        baseline_host="127.0.0.1",
        baseline_port=ports["baseline"],
    )
    with RouteServerThread(settings) as server:
        document = envoy_bootstrap(
            node_id="bench",
            node_cluster=NAMESPACE,
            fronts=[front],
            ads=AdsServer("127.0.0.1", server.xds_port),
            admin_port=0,
        )
        with EnvoyProcess(document, workdir, concurrency=concurrency) as envoy:
            wait_for(envoy.is_ready, 30, "Envoy ready")
            yield server, envoy, envoy.listener_ports()[front.name]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout}s")
        time.sleep(0.01)


def first_routed_after(port: int, key: str, action: Callable[[], None], timeout: float) -> float:
    """Seconds from the start of `action` to the first response served by the fork."""
    connection = Connection(port)
    request = request_bytes({"baggage": f"sandboxmesh-routing-key={key}"})
    found = threading.Event()
    done_at: list[float] = []

    def probe() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b'"fork"' in connection.get(request):
                done_at.append(time.perf_counter())
                found.set()
                return

    assert b'"baseline"' in connection.get(request)
    prober = threading.Thread(target=probe)
    started = time.perf_counter()
    prober.start()
    action()
    prober.join()
    connection.close()
    if not done_at:
        raise TimeoutError(f"key {key} not routed within {timeout}s")
    return done_at[0] - started


def summary(values_s: list[float]) -> dict[str, Any]:
    ms = sorted(round(v * 1000, 2) for v in values_s)
    return {"p50_ms": ms[len(ms) // 2], "max_ms": ms[-1], "samples_ms": ms}


# --- the runs -------------------------------------------------------------------------------

#: The request kinds compared with the anchor, by the headers they carry (`None`: the key of
#: the last fork in the table, so the route that matches is the last one tried).
_KINDS: dict[str, dict[str, str] | None] = {"no_key": {}, "fork_key_in_baggage": None}


def _headers(kind: str, routes: int) -> dict[str, str]:
    headers = _KINDS[kind]
    if headers is not None:
        return headers
    return {"baggage": f"userId=alice,sandboxmesh-routing-key={key_for(routes - 1)}"}


def _measure(
    port: int, pid: int, headers: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    measured = latency(port, headers, 1000 if args.quick else 5000)
    seconds = 2.0 if args.quick else 5.0
    cpu_before = static_envoy.cpu_seconds(pid)
    rps = throughput(port, headers, args.connections, seconds)
    cpu = static_envoy.cpu_seconds(pid) - cpu_before
    return {
        "rps": rps,
        "p50_us": measured["p50_us"],
        "p99_us": measured["p99_us"],
        # Envoy's own CPU per request under load: what the machine's other load disturbs
        # least (requests/s and latency also measure who else got the cores).
        "envoy_cpu_us_per_request": round(cpu * 1e6 / (rps * seconds), 2),
    }


_FIELDS = ("rps", "p50_us", "p99_us", "envoy_cpu_us_per_request")


def _median(values: list[float], digits: int = 1) -> float:
    return round(statistics.median(values), digits)


def run_against_static(
    args: argparse.Namespace, ports: dict[str, int], workdir: Path
) -> dict[str, Any]:
    """Ours with each of `--anchor-routes` forks vs the static anchor, rounds alternating."""
    rounds = args.anchor_rounds or (3 if args.quick else 7)
    route_counts: list[int] = args.anchor_routes
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    with contextlib.ExitStack() as stack:
        # name -> (port, Envoy's pid, routes whose last key the keyed requests carry); the
        # anchor gets requests of the same size, which it routes by no header at all.
        anchor_port = stack.enter_context(
            static_envoy.static_envoy(
                ports["fork"], workdir / "static", concurrency=args.envoy_concurrency
            )
        )
        targets = {
            "static_envoy": (
                anchor_port,
                static_envoy.envoy_pid(workdir / "static"),
                max(route_counts),
            )
        }
        for routes in route_counts:
            server, _envoy, port = stack.enter_context(
                data_plane(
                    ports, routes, workdir / f"ours-{routes}", concurrency=args.envoy_concurrency
                )
            )
            server.set_table(fork_table(routes))
            keyed = request_bytes(_headers("fork_key_in_baggage", routes))
            wait_for(lambda p=port, r=keyed: b'"fork"' in Connection(p).get(r), 30, "routes")
            pid = static_envoy.envoy_pid(workdir / f"ours-{routes}")
            targets[f"routes_{routes}"] = (port, pid, routes)
        names = list(targets)
        for round_index in range(rounds):
            # Each round starts with the next Envoy, so none is always measured first.
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for kind in _KINDS:
                for name in order:
                    port, pid, routes = targets[name]
                    measured = _measure(port, pid, _headers(kind, routes), args)
                    samples.setdefault(name, {}).setdefault(kind, []).append(measured)
    anchor = samples["static_envoy"]
    result: dict[str, Any] = {
        "rounds": rounds,
        "connections": args.connections,
        "envoy_concurrency": args.envoy_concurrency,
        "static_envoy": {
            kind: {
                field: _median([s[field] for s in runs], 2 if field.startswith("envoy") else 1)
                for field in _FIELDS
            }
            for kind, runs in anchor.items()
        },
    }
    for name in names[1:]:
        result[name] = {}
        for kind, runs in samples[name].items():
            base = anchor[kind]
            result[name][kind] = {
                "rps": _median([s["rps"] for s in runs]),
                "p50_us": _median([s["p50_us"] for s in runs]),
                "p99_us": _median([s["p99_us"] for s in runs]),
                # Per round, against the anchor measured in the same round.
                "rps_over_static": _median(
                    [s["rps"] / b["rps"] for s, b in zip(runs, base, strict=True)], 3
                ),
                "p50_over_static_us": _median(
                    [s["p50_us"] - b["p50_us"] for s, b in zip(runs, base, strict=True)]
                ),
                "p99_over_static_us": _median(
                    [s["p99_us"] - b["p99_us"] for s, b in zip(runs, base, strict=True)]
                ),
                "envoy_cpu_us_per_request": _median(
                    [s["envoy_cpu_us_per_request"] for s in runs], 2
                ),
                "envoy_cpu_over_static": _median(
                    [
                        s["envoy_cpu_us_per_request"] / b["envoy_cpu_us_per_request"]
                        for s, b in zip(runs, base, strict=True)
                    ],
                    3,
                ),
            }
    result["targets"] = {"rps_over_static_min": 0.9, "p50_over_static_us_max": 100.0}
    return {"against_static_envoy": result}


def run_data_plane(
    args: argparse.Namespace, ports: dict[str, int], workdir: Path
) -> dict[str, Any]:
    count = 1000 if args.quick else 10000
    seconds = 2.0 if args.quick else 8.0
    key_headers = {"baggage": f"userId=alice,sandboxmesh-routing-key={key_for(0)}"}
    result: dict[str, Any] = {}
    rounds = 5 if args.quick else 20
    mapped = max(args.routes, rounds)  # forks reachable: those routed, those added one by one
    with data_plane(ports, mapped, workdir / "dp", concurrency=args.envoy_concurrency) as (
        server,
        _envoy,
        envoy_port,
    ):
        server.set_table(fork_table(args.routes))
        wait_for(
            lambda: b'"fork"' in Connection(envoy_port).get(request_bytes(key_headers)),
            10,
            "routes",
        )
        direct = latency(ports["baseline"], {}, count)
        through = {
            "no_key": latency(envoy_port, {}, count),
            "unknown_key_in_baggage": latency(
                envoy_port, {"baggage": "userId=alice,sandboxmesh-routing-key=nosuchkey00"}, count
            ),
            "fork_key_in_baggage": latency(envoy_port, key_headers, count),
        }
        result["latency"] = {
            "direct": direct,
            "through_envoy": through,
            "added_p50_us": {
                k: round(v["p50_us"] - direct["p50_us"], 1) for k, v in through.items()
            },
            "added_p99_us": {
                k: round(v["p99_us"] - direct["p99_us"], 1) for k, v in through.items()
            },
        }
        direct_rps = throughput(ports["fork"], key_headers, args.connections, seconds)
        envoy_rps = throughput(envoy_port, key_headers, args.connections, seconds)
        result["throughput"] = {
            "connections": args.connections,
            "seconds": seconds,
            "direct_rps": direct_rps,
            "through_envoy_rps": envoy_rps,
            "envoy_over_direct": round(envoy_rps / direct_rps, 3),
        }
        samples = []
        for i in range(rounds):
            # Alternate: route only fork i, then nothing, so every sample adds a route.
            server.set_table(RouteTable())
            wait_for(
                lambda i=i: (
                    b'"baseline"'
                    in Connection(envoy_port).get(
                        request_bytes({"baggage": f"sandboxmesh-routing-key={key_for(i)}"})
                    )
                ),
                10,
                "route withdrawn",
            )
            table = fork_table(i + 1)
            single = RouteTable(routes={k: v[-1:] for k, v in table.routes.items()})
            samples.append(
                first_routed_after(envoy_port, key_for(i), lambda t=single: server.set_table(t), 10)
            )
        result["propagation_table_to_route"] = summary(samples)
    return result


def _write_status(client: Client, name: str, key: str, phase: Phase) -> None:
    fork = f"checkout-{name}"
    status = SandboxStatus(
        phase=phase,
        ready=phase is Phase.READY,
        routing_key=key,
        forks=[
            ForkStatus(
                fork_of=ForkRef(namespace=NAMESPACE, name="checkout"),
                objects=[
                    ObjectRef(
                        api_version="v1",
                        kind="Service",
                        namespace=NAMESPACE,
                        name=fork,
                        baseline="checkout",
                    )
                ],
                ready_replicas=1,
                ready=phase is Phase.READY,
            )
        ],
    )
    client.patch(
        Sandbox.Status,
        name,
        {"status": status.model_dump(by_alias=True, mode="json", exclude_none=True)},
        patch_type=PatchType.MERGE,
    )


def run_cluster(args: argparse.Namespace, ports: dict[str, int], workdir: Path) -> dict[str, Any]:
    rounds = 5 if args.quick else 20
    with LocalCluster(ClusterConfig(nodes=1, crds=[crd.crd_manifest()])) as cluster:
        client = Client(config=KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        client.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
        with data_plane(ports, rounds, workdir / "cluster", cluster.kubeconfig) as (_s, _e, port):
            samples = []
            for i in range(rounds):
                name, key = f"sbx-{i}", key_for(i)
                client.create(
                    Sandbox(
                        metadata=ObjectMeta(name=name),
                        spec={
                            "cluster": "local",
                            "routingKey": key,
                            "forks": [{"forkOf": {"namespace": NAMESPACE, "name": "checkout"}}],
                        },
                    )
                )
                _write_status(client, name, key, Phase.PROVISIONING)
                samples.append(
                    first_routed_after(
                        port,
                        key,
                        lambda n=name, k=key: _write_status(client, n, k, Phase.READY),
                        10,
                    )
                )
        client.close()
    return {"propagation_ready_to_route": summary(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument("--no-cluster", action="store_true", help="skip the end-to-end propagation")
    parser.add_argument(
        "--no-operator", action="store_true", help="skip the propagation with the real operator"
    )
    parser.add_argument("--routes", type=int, default=50, help="forks routed from the baseline")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--envoy-concurrency", type=int, default=1, help="Envoy worker threads")
    parser.add_argument(
        "--anchor-routes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[50, 1000],
        help="route counts compared with the static anchor (comma-separated)",
    )
    parser.add_argument(
        "--anchor-rounds", type=int, default=0, help="rounds against the anchor (default 3/7)"
    )
    parser.add_argument(
        "--only-anchor", action="store_true", help="only the comparison with the static anchor"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "routes_on_baseline": args.routes,
        "envoy_concurrency": args.envoy_concurrency,
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp,
        backends(["baseline", "fork"]) as ports,
    ):
        result.update(run_against_static(args, ports, Path(tmp)))
        if args.only_anchor:
            args.no_cluster = True
        else:
            result.update(run_data_plane(args, ports, Path(tmp)))
        if not args.no_cluster:
            result.update(run_cluster(args, ports, Path(tmp)))
        if not (args.no_cluster or args.no_operator):
            result.update(operator_propagation.run(5 if args.quick else 20))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
