"""Log-in under a password-guessing attack: a valid log-in of another account, and the memory.

    .venv/bin/python bench/controlplane/bench_login.py [--seconds 8] [--attackers 20]

Prints one JSON object. Each scenario runs its own `sandboxmesh server` (SQLite) with two
accounts; `attackers` clients send wrong passwords for the victim's account as fast as they
are answered, while one client logs in to the other account with its right password, one
log-in after another. Every scenario reports the valid log-in's latency, the attackers'
answers by status, and the server's peak memory (VmHWM):

- `baseline`: no attack (the same process's figures without it).
- `throttled`: the defaults, with the per-address limit lifted (an attacker spread over many
  addresses): the victim's account is refused with 429 once its wrong passwords are spent.
- `hashing_bounded`: no limits at all: every guess costs a hash, at most
  `hash_concurrency` (2) at once.
- `unbounded`: no limits, 64 hashes at once: how the server behaved before the throttle
  (10 concurrent log-ins took it from 136 to 520 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import harness

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
UNLIMITED = "1000000"
SCENARIOS: dict[str, dict[str, str]] = {
    "baseline": {},
    "throttled": {"SANDBOXMESH_THROTTLE__ADDRESS_BURST": UNLIMITED},
    "hashing_bounded": {
        "SANDBOXMESH_THROTTLE__ADDRESS_BURST": UNLIMITED,
        "SANDBOXMESH_THROTTLE__ACCOUNT_BURST": UNLIMITED,
    },
    "unbounded": {
        "SANDBOXMESH_THROTTLE__ADDRESS_BURST": UNLIMITED,
        "SANDBOXMESH_THROTTLE__ACCOUNT_BURST": UNLIMITED,
        "SANDBOXMESH_THROTTLE__HASH_CONCURRENCY": "64",
    },
}


def _account(database_url: str, home: Path, org: str, email: str, password: str) -> None:
    password_file = home / f"{org}.password"
    password_file.write_text(password)
    subprocess.run(
        [sys.executable, "-m", "sandboxmesh", "admin", "bootstrap", "--org", org,
         "--email", email, "--password-file", str(password_file), "--database-url", database_url],
        check=True, capture_output=True,
    )  # fmt: skip


async def _log_in(url: str, email: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=60) as browser:
        page = await browser.get("/portal/login")
        found = _CSRF.search(page.text)
        assert found is not None
        answer = await browser.post(
            "/portal/login",
            data={"email": email, "password": password, "csrf_token": found.group(1)},
        )
        return answer.status_code


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for {pid}")


async def _measure(
    url: str, pid: int, *, attack: bool, seconds: float, attackers: int, password: str
) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    answers: Counter[int] = Counter()

    async def guess() -> None:
        while time.monotonic() < stop:
            answers[await _log_in(url, "victim@bench.example", "not the password " + "x")] += 1

    latencies: list[float] = []
    refused = 0

    async def valid() -> None:
        nonlocal refused
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = await _log_in(url, "other@bench.example", password)
            latencies.append(time.perf_counter() - started)
            refused += status != 303

    rss_before = harness.rss_mib(pid)
    await asyncio.gather(valid(), *(guess() for _ in range(attackers if attack else 0)))
    return {
        "valid_log_in": harness.percentiles(latencies),
        "valid_log_ins_refused": refused,
        "attack_answers": {str(status): count for status, count in sorted(answers.items())},
        "attack_guesses_per_second": round(sum(answers.values()) / seconds, 1),
        "server_rss_mib_before": rss_before,
        "server_peak_rss_mib": _peak_mib(pid),
    }


def run(seconds: float, attackers: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    password = secrets.token_urlsafe(16)
    for scenario, env in SCENARIOS.items():
        with tempfile.TemporaryDirectory(prefix="bench-cp-login-") as tmp:
            home = Path(tmp)
            database_url = f"sqlite:///{home / 'controlplane.db'}"
            _account(database_url, home, "victim", "victim@bench.example", password)
            _account(database_url, home, "other", "other@bench.example", password)
            with harness.server(database_url, home, **env) as (url, pid):
                results[scenario] = asyncio.run(
                    _measure(
                        url,
                        pid,
                        attack=scenario != "baseline",
                        seconds=seconds,
                        attackers=attackers,
                        password=password,
                    )
                )
    base = results["baseline"]["valid_log_in"]["p50_ms"]
    for scenario in SCENARIOS:
        p50 = results[scenario]["valid_log_in"].get("p50_ms")
        results[scenario]["valid_p50_vs_baseline"] = round(p50 / base, 2) if p50 else None
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--attackers", type=int, default=20)
    args = parser.parse_args()
    result = run(args.seconds, args.attackers)
    print(json.dumps({"benchmark": "controlplane.login_under_attack", **result}, indent=2))


if __name__ == "__main__":
    main()
