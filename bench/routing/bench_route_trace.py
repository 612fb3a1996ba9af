"""Route traces: what they cost the data path, and how soon a trace can be read.

In one run, with real Envoy fed by the route server and a local keep-alive backend:
1. throughput of untraced requests (a fork's key in baggage, a `traceparent` as traced
   applications send) through Envoy with route traces off (no access log on the listener)
   and on (the access log's `tracestate` filter, nothing sent), alternating off/on for
   `--rounds` rounds; the ratio of the medians is the cost when nobody traces (target: on
   within 3 % of off);
2. the same with every request traced (`tracestate: sandboxmesh=1`): the cost while tracing;
3. trace latency: from sending one traced request to its hop readable at
   GET /v1/traces/ID (p50/p99 over `--traces` requests).

Prints one JSON object. Usage: python bench/routing/bench_route_trace.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_routing
import httpx
from http_load import backends, throughput

from sandboxmesh.routing.server import RouteServerThread

KEY = bench_routing.key_for(0)


@contextlib.contextmanager
def data_plane(
    ports: dict[str, int], workdir: Path, route_traces: bool
) -> Iterator[tuple[RouteServerThread, int]]:
    """bench_routing's data plane (one front, `checkout`), its first fork's route live."""
    with bench_routing.data_plane(ports, 1, workdir, route_traces=route_traces) as (
        server,
        _envoy,
        port,
    ):
        server.set_table(bench_routing.fork_table(1))
        bench_routing.wait_for(
            lambda: (
                httpx.get(f"http://127.0.0.1:{port}/", headers=_keyed(), timeout=2).json()
                == {"servedBy": "fork"}
            ),
            30,
            "the fork's route",
        )
        yield server, port


def _keyed(trace_id: str | None = None, traced: bool = False) -> dict[str, str]:
    headers = {
        "baggage": f"userId=alice,sandboxmesh-routing-key={KEY}",
        "traceparent": f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
    }
    if traced:
        headers["tracestate"] = "vendor=1,sandboxmesh=1"
    return headers


def _trace_latency(server: RouteServerThread, port: int, count: int) -> dict[str, float]:
    samples = []
    with httpx.Client(timeout=5) as http:
        for _ in range(count):
            trace_id = secrets.token_hex(16)
            started = time.perf_counter()
            http.get(f"http://127.0.0.1:{port}/", headers=_keyed(trace_id, traced=True))
            url = f"http://127.0.0.1:{server.http_port}/v1/traces/{trace_id}"
            deadline = started + 10
            while http.get(url).status_code != 200:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"trace {trace_id} not readable within 10 s")
                time.sleep(0.005)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(samples[len(samples) // 2], 1),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    seconds = 2.0 if args.quick else args.seconds
    rounds = 2 if args.quick else args.rounds
    rps: dict[str, list[float]] = {"off": [], "on_untraced": [], "on_traced": []}
    workdir = Path(tempfile.mkdtemp(prefix="bench-trace-"))
    result: dict[str, Any] = {"benchmark": "route_trace", "connections": args.connections,
                              "seconds": seconds, "rounds": rounds}  # fmt: skip
    with backends(["baseline", "fork"]) as ports:
        for round_ in range(rounds):
            for mode in ("off", "on"):
                with data_plane(ports, workdir / f"{mode}-{round_}", mode == "on") as (
                    server,
                    port,
                ):
                    if mode == "off":
                        rps["off"].append(throughput(port, _keyed(), args.connections, seconds))
                        continue
                    rps["on_untraced"].append(throughput(port, _keyed(), args.connections, seconds))
                    rps["on_traced"].append(
                        throughput(port, _keyed(traced=True), args.connections, seconds)
                    )
                    if round_ == rounds - 1:
                        result["trace_latency"] = _trace_latency(
                            server, port, 20 if args.quick else args.traces
                        )
    medians = {mode: statistics.median(values) for mode, values in rps.items()}
    result["rps"] = {
        mode: {"median": round(m, 1), "samples": rps[mode]} for mode, m in medians.items()
    }
    result["untraced_on_over_off"] = round(medians["on_untraced"] / medians["off"], 3)
    result["traced_over_off"] = round(medians["on_traced"] / medians["off"], 3)
    result["target_untraced_on_over_off"] = 0.97
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--traces", type=int, default=100)
    print(json.dumps(main(parser.parse_args()), indent=2))
