"""Sandbox create throughput and latency with 1, 10 and 50 concurrent clients.

    .venv/bin/python bench/controlplane/bench_creates.py                     # SQLite only
    POSTGRES_DURABLE=1 hack/postgres.sh run -- \
        .venv/bin/python bench/controlplane/bench_creates.py

Prints one JSON object. Each store runs against a real `sandboxmesh server` process over
loopback HTTP; the load generator is one asyncio process (httpx) on the same 2 cores, so the
figures include its cost. The baseline is GET /healthz at the same concurrency in the same
run: `vs_healthz` says how much of the ceiling of the HTTP stack a create reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import harness


async def _load(
    url: str, token: str, *, concurrency: int, total: int, what: str, prefix: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60
    ) as http:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                started = time.perf_counter()
                if what == "create":
                    name = f"{prefix}-{i}"
                    response = await http.put(
                        f"/api/v1/sandboxes/{name}", json=harness.sandbox(name, "bench")
                    )
                    ok = response.status_code == 201
                else:
                    ok = (await http.get("/healthz")).status_code == 200
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": total,
        "errors": errors,
        "per_second": round(total / elapsed, 1),
        **harness.percentiles(latencies),
    }


def run(total: int, concurrencies: list[int], wanted: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as tmp:
        workdir = Path(tmp)
        for store, database_url in harness.stores(workdir, wanted):
            token = harness.bootstrap(database_url, workdir)
            with harness.server(database_url, workdir) as (url, _):
                httpx.put(
                    f"{url}/api/v1/organization/quota",
                    json={"maxSandboxes": 1_000_000},
                    headers={"Authorization": f"Bearer {token}"},
                ).raise_for_status()
                httpx.post(
                    f"{url}/api/v1/clusters",
                    json={"name": "bench"},
                    headers={"Authorization": f"Bearer {token}"},
                ).raise_for_status()
                per_store: dict[str, Any] = {}
                for concurrency in concurrencies:
                    baseline = asyncio.run(
                        _load(
                            url,
                            token,
                            concurrency=concurrency,
                            total=total,
                            what="healthz",
                            prefix="",
                        )
                    )
                    creates = asyncio.run(
                        _load(
                            url,
                            token,
                            concurrency=concurrency,
                            total=total,
                            what="create",
                            prefix=f"c{concurrency}",
                        )
                    )
                    creates["vs_healthz"] = round(creates["per_second"] / baseline["per_second"], 3)
                    per_store[f"clients_{concurrency}"] = {
                        "create": creates,
                        "healthz_baseline": baseline,
                    }
                results[store] = per_store
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(
        json.dumps(
            {"benchmark": "controlplane.creates", **run(args.total, args.clients, args.stores)},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
