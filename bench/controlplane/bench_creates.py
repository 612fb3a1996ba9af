"""Sandbox create throughput and latency with 1, 10 and 50 concurrent connections.

    .venv/bin/python bench/controlplane/bench_creates.py                     # SQLite only
    POSTGRES_DURABLE=1 hack/postgres.sh run -- \\
        .venv/bin/python bench/controlplane/bench_creates.py [--workers 1 2]

Prerequisite: wrk (Debian package `wrk`); installed with apt-get when missing and run as
root. Prints one JSON object.

Each store runs against a real `sandboxmesh server` process (PostgreSQL also with several
uvicorn workers, `--workers`), loaded over loopback HTTP by wrk in a process of its own:
every request of a create run is a `PUT /api/v1/sandboxes/{name}` of a new name. The
baseline is `GET /healthz` at the same concurrency in the same run, just before: `vs_healthz`
says how much of the HTTP stack's ceiling a create reaches. `server_cpu_ms_per_request` is
the CPU the control-plane processes spent per request; the load average before and after
the run says how busy the machine was.

On PostgreSQL a second baseline follows each create run: `store_floor` runs the server's own
create path below HTTP (its create queue and statement) at the same concurrency
(store_floor.py), the most creates/s the database gives on this machine; `vs_store_floor` is
the server's share of it, and `postgres_cpu_ms_per_request` says what the database spent per
create either way. `store_floor.one_by_one` is the same statement with one create each, as
the server sent them before it batched them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import harness
import store_floor
import wrk_load

WARM_UP_SECONDS = 2


def _prepare(url: str, token: str) -> None:
    """The cluster every sandbox goes to (`harness.bootstrap` lifted the limit)."""
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{url}/api/v1/clusters", json={"name": "bench"}, headers=headers).raise_for_status()


def _measure_store(
    wrk: str,
    url: str,
    pid: int,
    token: str,
    *,
    database_url: str | None,
    concurrencies: list[int],
    seconds: float,
    workdir: Path,
) -> dict[str, Any]:
    """`database_url` names PostgreSQL (None for SQLite): its CPU is measured too, and the
    store's own ceiling for creates (store_floor.py)."""

    def load(script: str, connections: int, duration: float) -> wrk_load.Measurement:
        return wrk_load.run(
            wrk,
            url,
            script,
            connections=connections,
            seconds=duration,
            workdir=workdir,
            server_pid=pid,
            postgres=database_url is not None,
        )

    manifest = harness.sandbox("unused", "bench")
    results: dict[str, Any] = {}
    for connections in concurrencies:
        creates = wrk_load.create_script(token=token, prefix=f"c{connections}", manifest=manifest)
        warm_up = wrk_load.create_script(token=token, prefix=f"w{connections}", manifest=manifest)
        # Fills the connection pools and FastAPI's and SQLAlchemy's caches at this concurrency.
        load(warm_up, connections, WARM_UP_SECONDS)
        baseline = load(wrk_load.healthz_script(), connections, seconds)
        measured = load(creates, connections, seconds)
        results[f"clients_{connections}"] = {
            "create": {
                **measured.as_dict(),
                "vs_healthz": round(measured.per_second / baseline.per_second, 3),
            },
            "healthz_baseline": baseline.as_dict(),
        }
        if database_url is not None:
            floor = store_floor.measure(
                database_url,
                cluster="bench",
                spec=manifest["spec"],
                connections=connections,
                seconds=seconds,
            )
            results[f"clients_{connections}"]["create"]["vs_store_floor"] = round(
                measured.per_second / floor["per_second"], 3
            )
            results[f"clients_{connections}"]["store_floor"] = floor
    return results


def run(
    concurrencies: list[int], seconds: float, wanted: list[str], workers: list[int]
) -> dict[str, Any]:
    wrk = wrk_load.ensure_wrk()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as tmp:
        for wanted_store in wanted:
            # SQLite serves from one process; PostgreSQL with each worker count asked for,
            # each on a fresh database.
            for count in workers if wanted_store == "postgresql" else [1]:
                workdir = Path(tmp) / f"{wanted_store}-{count}"
                workdir.mkdir()
                for store, database_url in harness.stores(workdir, [wanted_store]):
                    token = harness.bootstrap(database_url, workdir)
                    with harness.server(database_url, workdir, workers=count) as (url, pid):
                        _prepare(url, token)
                        key = store if count == 1 else f"{store}_{count}_workers"
                        results[key] = {
                            "workers": count,
                            **_measure_store(
                                wrk,
                                url,
                                pid,
                                token,
                                database_url=database_url if store == "postgresql" else None,
                                concurrencies=concurrencies,
                                seconds=seconds,
                                workdir=workdir,
                            ),
                        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="server processes (PostgreSQL)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = run(args.clients, args.seconds, args.stores, args.workers)
    load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "controlplane.creates",
                "load_generator": "wrk, 1 thread, keep-alive connections",
                "cpus": os.cpu_count(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                **result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
