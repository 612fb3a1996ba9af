"""Preview URLs on the real node: the chart's preview gateway (an Envoy Pod configured by the
route server) in front of the demo app, opened by a real browser from the portal.

The control plane runs on this host at the node's address (standing for the hosted one); the
chart is installed with `preview.domain`, its gateway on a NodePort; Chromium resolves
`*.preview.test` to the node (as a wildcard DNS record would). A sandbox forks `checkout` and
declares two endpoints on the frontend: `shop` (public) and `web` (authenticated). The gateway
adds the sandbox's key at the frontend, and the frontend's call to checkout reaches the fork:
every hop behind the gateway routes on the key it set.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from lightkube.resources.core_v1 import ConfigMap
from playwright.sync_api import Browser, expect, sync_playwright
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.eventually import eventually
from tests.support.routed_system import (
    CLUSTER,
    Account,
    RoutedSystem,
    bootstrap_account,
    routed_system,
)

from sandboxmesh.client import ControlPlaneClient, endpoints
from sandboxmesh.dev.cluster.node.configs import NODE_IP
from sandboxmesh.dev.demo import in_cluster, manifests, sandboxes
from sandboxmesh.dev.demo.routed_app import versions
from sandboxmesh.dev.pytest_plugin import RealNodeCluster
from sandboxmesh.spec import SandboxManifest, preview

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

DOMAIN = "preview.test"
#: The gateway's NodePort, fixed because the URLs name it (preview.port).
GATEWAY_PORT = 31480
OWNER = Account("acme", "owner@acme.example", "a long enough password for the portal")
OUTSIDER = Account("globex", "eve@globex.example", "another long enough password here")
BASELINE = {"frontend": "baseline", "checkout": "baseline", "payments": "baseline"}


@pytest.fixture(scope="module")
def previews(
    real_node_cluster: RealNodeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RoutedSystem]:
    if not CHROMIUM.exists():
        pytest.skip(f"LOUD SKIP: {CHROMIUM} is missing; `make test` installs Debian's chromium")
    values = {
        "agent.pollWaitSeconds": "5",
        "preview.domain": DOMAIN,
        "preview.scheme": "http",
        "preview.port": str(GATEWAY_PORT),
        "preview.gateway.replicas": "1",
        "preview.gateway.service.type": "NodePort",
        "preview.gateway.service.nodePort": str(GATEWAY_PORT),
    }
    home = tmp_path_factory.mktemp("previews")
    with routed_system(real_node_cluster, home, OWNER, values) as system:
        bootstrap_account(f"sqlite:///{system.database}", OUTSIDER)
        yield system


def _sandbox(name: str, namespace: str) -> SandboxManifest:
    manifest = manifests.sandbox(name, cluster=CLUSTER, namespace=namespace)
    entry = {"namespace": namespace, "service": manifests.FRONTEND}
    spec = manifest.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec["endpoints"] = [
        {"name": "shop", **entry, "access": "public"},
        {"name": "web", **entry},
    ]
    return SandboxManifest.model_validate({"name": name, "spec": spec})


def _preview_urls(api: ControlPlaneClient, name: str) -> dict[str, str]:
    sandbox = api.send(endpoints.get_sandbox(name))
    status = sandbox.status
    return {u.name: u.url for u in (status.preview_urls if status else [])}


def _get(url: str, **kwargs: Any) -> httpx.Response:
    """GET a preview URL at the node, as DNS would send it there."""
    parts = urlsplit(url)
    return httpx.get(
        f"http://{NODE_IP}:{parts.port}{parts.path or '/'}",
        headers={"host": parts.netloc, **kwargs.pop("headers", {})},
        timeout=10,
        **kwargs,
    )


def _resigned(database: Path, token: str, exp: int) -> str:
    """`token`'s claims with expiry `exp`, signed with the control plane's current key."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        kid, pem = db.execute(
            "SELECT kid, private_key FROM preview_signing_keys WHERE slot = 'current'"
        ).fetchone()
    claims = jwt.decode(token, options={"verify_signature": False})
    claims |= {"iat": min(claims["iat"], exp - 60), "exp": exp}
    signed: str = jwt.encode(claims, pem, algorithm="ES256", headers={"kid": kid})
    return signed


def _answering(url: str, status: int) -> httpx.Response | None:
    response = _get(url)
    return response if response.status_code == status else None


def _browser(playwright: Any) -> Browser:
    rules = f"--host-resolver-rules=MAP *.{DOMAIN} {NODE_IP}"
    launched: Browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rules]
    )
    return launched


def _log_in(page: Any, url: str, account: Account) -> None:
    page.goto(f"{url}/portal/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Sandboxes", level=1)).to_be_visible()


def test_a_preview_url_opens_the_sandbox_in_a_browser_and_only_for_its_members(
    previews: RoutedSystem,
) -> None:
    name = f"pv-{uuid.uuid4().hex[:6]}"
    key = sandboxes.create(previews.api, _sandbox(name, previews.namespace))
    sandboxes.wait_ready(previews.api, name, timeout=180)
    urls = eventually(
        lambda: _preview_urls(previews.api, name) or None, timeout=30, what="preview URLs"
    )
    assert urls == {
        "shop": f"http://shop-{key}.{DOMAIN}:{GATEWAY_PORT}/",
        "web": f"http://web-{key}.{DOMAIN}:{GATEWAY_PORT}/",
    }
    forked = {**BASELINE, "checkout": name}

    # Public: no sign-in; the gateway sets the key at the frontend, checkout's hop forks.
    public = eventually(lambda: _answering(urls["shop"], 200), timeout=30, what="public")
    assert versions(public.json()) == forked
    # The agent delivered the control plane's keys; the route server gave them to the gateway.
    keys = previews.kube.get(
        ConfigMap, preview.PREVIEW_KEYS_CONFIGMAP, namespace=in_cluster.RELEASE_NAMESPACE
    )
    assert json.loads((keys.data or {})[preview.KEYS_JWKS])["keys"]
    # Authenticated, without a sign-in: sent to the control plane, never served.
    asked = eventually(lambda: _answering(urls["web"], 302), timeout=30, what="sign-in")
    assert asked.headers["location"].startswith(previews.server.url())
    assert _get(f"http://nothing-{key}.{DOMAIN}:{GATEWAY_PORT}/").status_code == 404

    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            # A member opens the preview from the portal's sandbox page.
            member = browser.new_context()
            member.set_default_timeout(20_000)
            page = member.new_page()
            _log_in(page, previews.server.url(), OWNER)
            page.goto(f"{previews.server.url()}/portal/sandboxes/{name}")
            page.get_by_role("link", name="web", exact=True).click()
            page.wait_for_url(urls["web"])
            served = json.loads(page.locator("body").inner_text())
            assert versions(served) == forked
            cookies = {c["name"]: c for c in member.cookies(urls["web"])}
            assert cookies[preview.COOKIE_NAME]["httpOnly"] is True
            # The cookie is this host's only: the public host never sees it.
            assert preview.COOKIE_NAME not in {c["name"] for c in member.cookies(urls["shop"])}

            # The same claims signed again with the control plane's own key: accepted while
            # they last, refused once expired.
            token = cookies[preview.COOKIE_NAME]["value"]
            now = int(time.time())
            for exp, status in ((now + 600, 200), (now - 3600, 401)):
                context = browser.new_context()
                context.add_cookies(
                    [{"name": preview.COOKIE_NAME, "url": urls["web"],
                      "value": _resigned(previews.database, token, exp)}]
                )  # fmt: skip
                answered = context.new_page().goto(urls["web"])
                assert answered is not None
                assert answered.status == status, exp - now

            # A forged cookie is refused by the gateway.
            forged = browser.new_context()
            forged.add_cookies(
                [{"name": preview.COOKIE_NAME, "value": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
                  "url": urls["web"]}]
            )  # fmt: skip
            refused = forged.new_page().goto(urls["web"])
            assert refused is not None
            assert refused.status == 401

            # Another organisation's member: signed in, but the control plane signs nothing.
            outsider = browser.new_context()
            outsider.set_default_timeout(20_000)
            other = outsider.new_page()
            _log_in(other, previews.server.url(), OUTSIDER)
            answer = other.goto(urls["web"])
            assert answer is not None
            assert answer.status == 404
            assert other.url.startswith(previews.server.url())
            assert "checkout" not in other.content()
        finally:
            browser.close()

    # Deleted: the previews stop answering (the route server withdraws the hosts).
    previews.api.send(endpoints.delete_sandbox(name))
    eventually(lambda: _get(urls["shop"]).status_code == 404, timeout=30, what="preview gone")
