"""The route server at 1,000 routes: xDS push size and time, and the last sandbox's route.

In one run, with real Envoy fed by the route server (bench_routing's data plane: one front,
`checkout`, every fork reachable at a local backend):

1. cold push: from an empty table to `--routes` fork routes (each sandbox's key, one exact
   header route and one baggage route each), the time the route server measures from the
   table change to Envoy's ACK of the last response it caused (`sandboxmesh_xds_push_seconds`),
   and the size of what Envoy then holds per type (serialized protobuf bytes);
2. the `--routes`th sandbox turning Ready: from a table of `--routes - 1` routes to `--routes`,
   the time to the first request with its key served by its fork (a prober sends requests
   meanwhile), and the push time of that change, over `--rounds` rounds (the route is
   withdrawn between rounds, so each one adds it);
3. the same single change on a table of 1 route, in the same run, as the baseline: the ratio
   says what the other routes cost a new one.

Prints one JSON object. Usage: python bench/routing/bench_xds_push.py [--routes 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_routing
from http_load import backends

from sandboxmesh.routing.core.table import RouteTable
from sandboxmesh.routing.server import RouteServer, RouteServerThread
from sandboxmesh.routing.xds.stream import TYPE_NAMES

PUSH_METRIC = "sandboxmesh_xds_push_seconds"


def _pushes(server: RouteServerThread) -> tuple[float, float]:
    """(count, sum) of the route server's completed pushes."""

    def read(s: RouteServer) -> tuple[float, float]:
        registry = s.metrics.registry
        count = registry.get_sample_value(f"{PUSH_METRIC}_count") or 0.0
        total = registry.get_sample_value(f"{PUSH_METRIC}_sum") or 0.0
        return count, total

    return server.read(read)


def _set_and_push(server: RouteServerThread, table: RouteTable, timeout: float = 60) -> float:
    """Set the table; return the push time the route server measured for it (seconds)."""
    count, total = _pushes(server)
    server.set_table(table)
    deadline = time.monotonic() + timeout
    while (now := _pushes(server))[0] <= count:
        if time.monotonic() > deadline:
            raise TimeoutError("no push completed")
        time.sleep(0.001)
    return now[1] - total


def _acked_sizes(server: RouteServerThread) -> dict[str, Any]:
    def read(s: RouteServer) -> dict[str, Any]:
        (node,) = s.ads.nodes.values()
        sizes: dict[str, Any] = {}
        for url, state in node.stream.types.items():
            resources = state.acked_resources
            sizes[TYPE_NAMES[url]] = {
                "resources": len(resources),
                "bytes": sum(len(r.SerializeToString()) for r in resources.values()),
            }
        return sizes

    return server.read(read)


def _ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _last_route(server: RouteServerThread, port: int, routes: int, rounds: int) -> dict[str, Any]:
    """The `routes`th route added to `routes - 1`, `rounds` times."""
    before = bench_routing.fork_table(routes - 1)
    after = bench_routing.fork_table(routes)
    key = bench_routing.key_for(routes - 1)
    routed, pushed = [], []
    for _ in range(rounds):
        _set_and_push(server, before)
        count, total = _pushes(server)
        routed.append(
            bench_routing.first_routed_after(port, key, lambda: server.set_table(after), 30)
        )
        while _pushes(server)[0] <= count:
            time.sleep(0.001)
        pushed.append(_pushes(server)[1] - total)
    return {"ready_to_routed": _ms(routed), "push": _ms(pushed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result: dict[str, Any] = {"routes": args.routes, "rounds": args.rounds}
    with (
        tempfile.TemporaryDirectory(prefix="bench-xds-") as tmp,
        backends(["baseline", "fork"]) as ports,
        bench_routing.data_plane(ports, args.routes, Path(tmp)) as (server, _envoy, port),
    ):
        cold = _set_and_push(server, bench_routing.fork_table(args.routes))
        result["cold_push_ms"] = round(cold * 1000, 2)
        result["acked"] = _acked_sizes(server)
        result["last_route"] = _last_route(server, port, args.routes, args.rounds)
        result["first_route"] = _last_route(server, port, 1, args.rounds)
        result["last_over_first_p50"] = round(
            result["last_route"]["ready_to_routed"]["p50_ms"]
            / result["first_route"]["ready_to_routed"]["p50_ms"],
            2,
        )
    with open("/proc/loadavg") as load:
        result["load_average"] = load.read().split()[:3]
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
