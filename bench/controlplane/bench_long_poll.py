"""1,000 agents long-polling at once: the server's memory and the create -> arrival latency.

    .venv/bin/python bench/controlplane/bench_long_poll.py            # SQLite only
    POSTGRES_DURABLE=1 hack/postgres.sh run -- \
        .venv/bin/python bench/controlplane/bench_long_poll.py        # and PostgreSQL

Prints one JSON object. Every agent has a cluster (and token) of its own and waits in
`GET /api/v1/agent/assignments`; then sandboxes are created one at a time on random clusters,
and each create is timed from the moment its request is sent to the moment the waiting
agent's poll returns it. The woken agent polls again at once, so the number waiting stays
at the target. Baseline in the same run: the server's memory before any poll waits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import harness

WAIT_SECONDS = 250


async def _register(http: httpx.AsyncClient, agents: int) -> list[str]:
    tokens: list[str] = [""] * agents
    semaphore = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        async with semaphore:
            response = await http.post("/api/v1/clusters", json={"name": f"c{i}"})
            response.raise_for_status()
            tokens[i] = response.json()["token"]

    await asyncio.gather(*(one(i) for i in range(agents)))
    return tokens


async def _waiting(http: httpx.AsyncClient) -> int:
    text = (await http.get("/metrics")).text
    found = re.search(r"^sandboxmesh_agent_long_polls_waiting (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


async def _measure(url: str, token: str, pid: int, agents: int, creates: int) -> dict[str, Any]:
    owner = httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    limits = httpx.Limits(max_connections=agents + 50, max_keepalive_connections=agents + 50)
    polls = httpx.AsyncClient(base_url=url, limits=limits, timeout=WAIT_SECONDS + 30)
    try:
        started = time.perf_counter()
        tokens = await _register(owner, agents)
        registered_in = time.perf_counter() - started
        idle_rss = harness.rss_mib(pid)

        revisions: dict[int, int] = {}
        arrivals: dict[int, asyncio.Future[float]] = {}
        tasks: set[asyncio.Task[None]] = set()

        async def poll(i: int) -> None:
            response = await polls.get(
                "/api/v1/agent/assignments",
                params={"since": revisions[i], "wait": WAIT_SECONDS},
                headers={"Authorization": f"Bearer {tokens[i]}"},
            )
            arrived = time.perf_counter()
            batch = response.json()
            revisions[i] = batch["revision"]
            if batch["assignments"] and i in arrivals and not arrivals[i].done():
                arrivals[i].set_result(arrived)
            start(i)

        def start(i: int) -> None:
            task = asyncio.create_task(poll(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        semaphore = asyncio.Semaphore(50)

        async def resync(i: int) -> None:
            async with semaphore:
                response = await polls.get(
                    "/api/v1/agent/assignments",
                    params={"since": 0, "wait": 0},
                    headers={"Authorization": f"Bearer {tokens[i]}"},
                )
                revisions[i] = response.json()["revision"]

        await asyncio.gather(*(resync(i) for i in range(agents)))
        for i in range(agents):
            start(i)
        deadline = time.monotonic() + 120
        while await _waiting(owner) < agents:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {await _waiting(owner)} of {agents} polls waiting")
            await asyncio.sleep(0.2)
        waiting_rss = harness.rss_mib(pid)

        latencies: list[float] = []
        request_latencies: list[float] = []
        after_response: list[float] = []
        for n, i in enumerate(random.sample(range(agents), creates)):
            arrivals[i] = asyncio.get_running_loop().create_future()
            name = f"s{n}"
            sent = time.perf_counter()
            response = await owner.put(
                f"/api/v1/sandboxes/{name}", json=harness.sandbox(name, f"c{i}")
            )
            response.raise_for_status()
            answered = time.perf_counter()
            request_latencies.append(answered - sent)
            arrived = await asyncio.wait_for(arrivals[i], timeout=30)
            latencies.append(arrived - sent)
            # Negative when the poll returned before the create's own answer did.
            after_response.append(arrived - answered)
        still_waiting = await _waiting(owner)
        for task in list(tasks):
            task.cancel()
        return {
            "agents": agents,
            "register_seconds": round(registered_in, 1),
            "server_rss_mib_idle": idle_rss,
            "server_rss_mib_waiting": waiting_rss,
            "rss_per_waiting_agent_kib": round((waiting_rss - idle_rss) * 1024 / agents, 1),
            "waiting_at_end": still_waiting,
            "create_to_arrival": harness.percentiles(latencies),
            "create_request_alone": harness.percentiles(request_latencies),
            "arrival_after_create_response": harness.percentiles(after_response),
        }
    finally:
        await owner.aclose()
        await polls.aclose()


def run(agents: int, creates: int, wanted: list[str], workers: int = 1) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cp-poll-") as tmp:
        workdir = Path(tmp)
        for store, database_url in harness.stores(workdir, wanted):
            token = harness.bootstrap(database_url, workdir)
            env = {"SANDBOXMESH_AGENT__LONG_POLL_MAX_SECONDS": str(WAIT_SECONDS)}
            # Several workers need a store they can share: PostgreSQL.
            count = workers if store == "postgresql" else 1
            with harness.server(database_url, workdir, workers=count, **env) as (url, pid):
                measured = asyncio.run(_measure(url, token, pid, agents, creates))
                results[store] = {"workers": count, **measured}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (PostgreSQL only)"
    )
    args = parser.parse_args()
    result = run(args.agents, args.creates, args.stores, args.workers)
    print(json.dumps({"benchmark": "controlplane.long_poll", **result}, indent=2))


if __name__ == "__main__":
    main()
