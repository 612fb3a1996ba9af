"""Log-in under a password-guessing attack: a valid log-in of another account, and the memory.

    .venv/bin/python bench/controlplane/bench_login.py [--seconds 8] [--attackers 20]

Prints one JSON object. Each scenario runs its own `sandboxmesh server` (SQLite) with two
accounts; `attackers` clients, in a process of their own (so that their CPU does not delay the
measuring client), send wrong passwords for the victim's account as fast as they are
answered, while one client logs in to the other account with its right password, one log-in
after another. Every scenario reports the valid log-in's latency, the attackers'
answers by status, and the server's peak memory (VmHWM):

- `baseline`: no attack (the same process's figures without it).
- `throttled`: the defaults: the victim's account is refused with 429 once its tries are
  spent. (The per-address limit is lifted in every scenario: all the bench's clients share
  one address, as an attacker spread over many addresses would not.)
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
VICTIM = "victim@bench.example"
OTHER = "other@bench.example"
SCENARIOS: dict[str, dict[str, str]] = {
    # Every client of the bench has the same address: its limit is lifted throughout.
    "baseline": {"SANDBOXMESH_THROTTLE__ADDRESS_BURST": UNLIMITED},
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


async def _log_in(browser: httpx.AsyncClient, email: str, password: str) -> int:
    """One log-in as a fresh browser would make it (no cookies), on a kept connection."""
    browser.cookies.clear()
    page = await browser.get("/portal/login")
    found = _CSRF.search(page.text)
    assert found is not None
    answer = await browser.post(
        "/portal/login", data={"email": email, "password": password, "csrf_token": found.group(1)}
    )
    return answer.status_code


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for {pid}")


async def _attack(url: str, seconds: float, attackers: int) -> dict[str, int]:
    """What the server answered the attackers' wrong passwords, by status."""
    stop = time.monotonic() + seconds
    answers: Counter[int] = Counter()

    async def guess() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as browser:
            while time.monotonic() < stop:
                answers[await _log_in(browser, VICTIM, "not the password")] += 1

    await asyncio.gather(*(guess() for _ in range(attackers)))
    return {str(status): count for status, count in sorted(answers.items())}


async def _measure(
    url: str, pid: int, *, attack: bool, seconds: float, attackers: int, password: str
) -> dict[str, Any]:
    attacking = None
    if attack:
        attacking = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attack-url", url, "--seconds", str(seconds),
            "--attackers", str(attackers), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    refused = 0
    rss_before = harness.rss_mib(pid)
    async with httpx.AsyncClient(base_url=url, timeout=60) as browser:
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = await _log_in(browser, OTHER, password)
            latencies.append(time.perf_counter() - started)
            refused += status != 303
    answers: dict[str, int] = {}
    if attacking is not None:
        out, _ = await attacking.communicate()
        answers = json.loads(out)
    return {
        "valid_log_in": harness.percentiles(latencies),
        "valid_log_ins_refused": refused,
        "attack_answers": answers,
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
            _account(database_url, home, "victim", VICTIM, password)
            _account(database_url, home, "other", OTHER, password)
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
    parser.add_argument("--attack-url", help=argparse.SUPPRESS)  # the attackers' process
    args = parser.parse_args()
    if args.attack_url:
        print(json.dumps(asyncio.run(_attack(args.attack_url, args.seconds, args.attackers))))
        return
    result = run(args.seconds, args.attackers)
    print(json.dumps({"benchmark": "controlplane.login_under_attack", **result}, indent=2))


if __name__ == "__main__":
    main()
