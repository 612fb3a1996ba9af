"""wrk as the load generator: a C process of its own, so the figures measure the server.

An in-process Python client on the same 2 cores cannot push even GET /healthz past a few
hundred requests/s, so it would measure itself. wrk (Debian package `wrk`) keeps up with the
server on one thread; `ensure_wrk()` installs it with apt-get when run as root, and says what
is missing otherwise.

Each measurement writes a small Lua script (wrk's scripting interface) that builds the
requests and prints one JSON line in wrk's `done` hook: requests, errors and the latency
percentiles wrk recorded for every request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# `done` runs once in wrk's main Lua state, after every thread finished.
_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, '
    .. '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""

# A static request (no `request` function): wrk builds it once, as cheap as it gets.
_HEALTHZ = 'wrk.method = "GET"\nwrk.path = "/healthz"\n' + _DONE

# Every request a create of a fresh name: "<prefix>-<thread>-<n>" is unique within a run.
_CREATE = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
local headers = {
  ["Authorization"] = "Bearer %(token)s",
  ["Content-Type"] = "application/json",
}
function request()
  counter = counter + 1
  local name = string.format("%(prefix)s-%%d-%%d", tid, counter)
  local body = string.format('%(body)s', name)
  return wrk.format("PUT", "/api/v1/sandboxes/" .. name, headers, body)
end
""" + _DONE.replace("%", "%%")


class WrkMissing(RuntimeError):
    """wrk is not installed and cannot be installed from here."""


def ensure_wrk() -> str:
    """The path of `wrk`, installed from Debian's package first when missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise WrkMissing("wrk is missing: install it first (apt-get install wrk)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("apt-get install wrk left no wrk on PATH")
    return found


def healthz_script() -> str:
    return _HEALTHZ


def create_script(*, token: str, prefix: str, manifest: dict[str, Any]) -> str:
    """A script that PUTs `manifest` under a fresh name per request (its `name` is set)."""
    placeholder = "BENCH-NAME-PLACEHOLDER"
    template = json.dumps({**manifest, "name": placeholder}, separators=(",", ":"))
    # The body is a Lua single-quoted string given to string.format: escape backslashes,
    # quotes and percent signs, then leave one %s where the name goes.
    body = template.replace("\\", "\\\\").replace("'", "\\'").replace("%", "%%")
    body = body.replace(placeholder, "%s")
    return _CREATE % {"token": token, "prefix": prefix, "body": body}


@dataclass(frozen=True)
class Measurement:
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    #: CPU time the server's processes used per request (user + system).
    server_cpu_ms_per_request: float
    #: CPU time PostgreSQL's processes used per request (None: not asked for).
    postgres_cpu_ms_per_request: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run(
    wrk: str,
    url: str,
    script: str,
    *,
    connections: int,
    seconds: float,
    workdir: Path,
    server_pid: int,
    postgres: bool = False,
) -> Measurement:
    """One wrk run of `seconds` with `connections` keep-alive connections on one thread;
    with `postgres`, PostgreSQL's CPU per request too."""
    path = workdir / "wrk-script.lua"
    path.write_text(script)
    cpu_before = process_tree_cpu_seconds(server_pid)
    postgres_before = postgres_cpu_seconds() if postgres else 0.0
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(path),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    cpu = process_tree_cpu_seconds(server_pid) - cpu_before
    postgres_cpu = postgres_cpu_seconds() - postgres_before if postgres else 0.0
    line = next(ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{"))
    raw = json.loads(line)
    requests = int(raw["requests"])
    return Measurement(
        requests=requests,
        errors=int(raw["status_errors"]) + int(raw["socket_errors"]),
        per_second=round(requests / (raw["duration_us"] / 1e6), 1),
        p50_ms=round(raw["p50_us"] / 1000, 2),
        p90_ms=round(raw["p90_us"] / 1000, 2),
        p99_ms=round(raw["p99_us"] / 1000, 2),
        max_ms=round(raw["max_us"] / 1000, 2),
        mean_ms=round(raw["mean_us"] / 1000, 2),
        server_cpu_ms_per_request=round(cpu * 1000 / requests, 3) if requests else 0.0,
        postgres_cpu_ms_per_request=(
            round(postgres_cpu * 1000 / requests, 3) if postgres and requests else None
        ),
    )


def _processes() -> Iterator[tuple[int, str, list[str]]]:
    """(pid, command name, the fields of /proc/<pid>/stat after the name) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        yield int(entry.name), name, stat[stat.rfind(")") + 2 :].split()


def _ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime + stime


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process (the bench's own server), in seconds:
    backends come and go with connections, so the difference of two readings is what the
    processes alive at both spent in between."""
    return sum(_ticks(fields) for _, name, fields in _processes() if name == "postgres") / (
        _CLOCK_TICKS
    )


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its descendants (uvicorn workers), in seconds."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for this, _, fields in _processes():
        children.setdefault(int(fields[1]), []).append(this)
        ticks[this] = _ticks(fields)
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += ticks.get(current, 0)
        todo.extend(children.get(current, []))
    return total / _CLOCK_TICKS
