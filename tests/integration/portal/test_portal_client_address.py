"""The client address that log-in limits count, behind a reverse proxy: X-Forwarded-For is
believed from the proxies `sandboxmesh server --forwarded-allow-ips` names, and only them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from tests.support.controlplane_server import server_process

LIMITS = {
    "SANDBOXMESH_THROTTLE__ADDRESS_BURST": "2",
    "SANDBOXMESH_THROTTLE__ACCOUNT_BURST": "1000",
    "SANDBOXMESH_LOG_LEVEL": "WARNING",
}


def _log_in(url: str, forwarded_for: str) -> int:
    with httpx.Client(base_url=url, timeout=30) as browser:
        page = browser.get("/portal/login")
        csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert csrf is not None
        answer = browser.post(
            "/portal/login",
            data={"email": "a@example.com", "password": "wrong wrong", "csrf_token": csrf[1]},
            headers={"X-Forwarded-For": forwarded_for},
        )
        return answer.status_code


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        # The test is the proxy: each forwarded address has a limit of its own.
        ("127.0.0.1", [401, 401, 429, 401]),
        # A proxy nobody named: its header is ignored, every try is this machine's.
        ("10.9.9.9", [401, 401, 429, 429]),
    ],
)
def test_the_limits_count_the_address_a_trusted_proxy_forwards(
    tmp_path: Path, trusted: str, expected: list[int]
) -> None:
    database_url = f"sqlite:///{tmp_path / 'controlplane.db'}"
    with server_process(
        database_url, tmp_path, env=LIMITS, args=["--forwarded-allow-ips", trusted]
    ) as url:
        statuses = [_log_in(url, client) for client in ("10.0.0.1",) * 3 + ("10.0.0.2",)]
    assert statuses == expected
