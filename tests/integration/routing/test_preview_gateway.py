"""The preview gateway: real Envoy, fed over ADS by the route server, serving preview hosts.

The sign-in tokens are signed here with a key of the test's own (ES256), as the control plane
signs them; the gateway verifies them with the public half, as the agent delivers it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from tests.integration.routing.routing_backends import http_backend
from tests.support.eventually import eventually

from sandboxmesh.dev.local_routing.envoy_process import EnvoyProcess
from sandboxmesh.routing.core import gateway
from sandboxmesh.routing.core.bootstrap import AdsServer, envoy_bootstrap
from sandboxmesh.routing.core.fronts import Gateway
from sandboxmesh.routing.core.gateway import PreviewHost
from sandboxmesh.routing.core.preview_signin import PreviewKeys
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses
from sandboxmesh.routing.server import RouteServerSettings, RouteServerThread
from sandboxmesh.spec import preview
from sandboxmesh.spec.preview import Access

KEY = "abcdefgh12345678"
OTHER_KEY = "zzzzzzzz99999999"
DOMAIN = "preview.test"
ISSUER = "https://controlplane.test"
AUTHORIZE = "https://controlplane.test/preview/authorize"
PUBLIC = preview.preview_host("shop", KEY, DOMAIN)
PRIVATE = preview.preview_host("admin", KEY, DOMAIN)
SHOP = ServiceRef("shop", "frontend")
ADMIN = ServiceRef("shop", "admin")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Signer:
    key: ec.EllipticCurvePrivateKey
    kid: str

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "kid": self.kid,
                    "alg": "ES256",
                    "use": "sig",
                    "x": _b64(numbers.x.to_bytes(32, "big")),
                    "y": _b64(numbers.y.to_bytes(32, "big")),
                }
            ]
        }

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": PRIVATE, "sub": "u1", "iat": now, "exp": now + 600}
        body.update(claims)
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _signer(kid: str) -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()), kid)


@dataclass
class Plane:
    server: RouteServerThread
    envoy: EnvoyProcess
    port: int
    signer: Signer

    def get(self, host: str, path: str = "/hello", **kwargs: Any) -> httpx.Response:
        headers = {"host": f"{host}:30080", **kwargs.pop("headers", {})}
        return httpx.get(
            f"http://127.0.0.1:{self.port}{path}", headers=headers, timeout=5, **kwargs
        )

    def set(
        self,
        hosts: tuple[PreviewHost, ...],
        table: RouteTable | None = None,
        keys: PreviewKeys | None = None,
    ) -> None:
        def update(server: Any) -> None:
            server.state.set_table(table or RouteTable(), previews=hosts)
            server.state.set_preview_keys(keys)

        self.server.read(update)


HOSTS = (
    PreviewHost(PUBLIC, "pr-1", KEY, SHOP, 80, Access.PUBLIC, f"http://{PUBLIC}:30080"),
    PreviewHost(PRIVATE, "pr-1", KEY, ADMIN, 80, Access.AUTHENTICATED, f"http://{PRIVATE}:30080"),
)
FORKED = RouteTable(routes={SHOP: (ForkRoute(KEY, "pr-1", ServiceRef("shop", "frontend-pr-1")),)})


@contextlib.contextmanager
def _plane(tmp_path: Path, listen: Gateway) -> Iterator[Plane]:
    with contextlib.ExitStack() as stack:
        overrides = {}
        for service in ("frontend", "frontend-pr-1", "admin"):
            port = stack.enter_context(http_backend(service))
            overrides[(ServiceRef("shop", service), 80)] = Address("127.0.0.1", port)
        server = stack.enter_context(
            RouteServerThread(
                RouteServerSettings(
                    addresses=ServiceAddresses(overrides=overrides, cluster_dns=False)
                )
            )
        )
        bootstrap = envoy_bootstrap(
            node_id="gateway",
            node_cluster="preview-gateway",
            fronts=[],
            ads=AdsServer("127.0.0.1", server.xds_port),
            admin_port=0,
            gateway=listen,
        )
        envoy = stack.enter_context(EnvoyProcess(bootstrap, tmp_path / "envoy"))
        ports = eventually(
            lambda: envoy.listener_ports().get(gateway.NAME),
            timeout=20,
            what="the gateway's listener",
        )
        yield Plane(server, envoy, ports, _signer("k1"))


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    with _plane(tmp_path, Gateway(listen_address="127.0.0.1", listen_port=0)) as started:
        yield started


def _keys(signer: Signer) -> PreviewKeys:
    return PreviewKeys(ISSUER, AUTHORIZE, json.dumps(signer.jwks()))


def _served(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.status_code, response.text)
    return str(response.json()["servedBy"])


def test_a_public_host_reaches_the_fork_with_the_key_and_other_hosts_get_404(
    plane: Plane,
) -> None:
    plane.set(HOSTS, FORKED, _keys(plane.signer))
    eventually(lambda: plane.get(PUBLIC).status_code == 200, timeout=10, what="the host live")
    answer = plane.get(
        PUBLIC,
        headers={
            # A visitor's attempt to reach another sandbox: the gateway drops both.
            "x-sandboxmesh-routing-key": OTHER_KEY,
            "baggage": f"sandboxmesh-routing-key={OTHER_KEY}",
        },
    )
    assert _served(answer) == "frontend-pr-1"
    assert answer.json()["baggage"] == [f"sandboxmesh-routing-key={KEY}"]
    assert answer.json()["routingKey"] == []

    for host in (f"nothing-{KEY}.{DOMAIN}", preview.preview_host("shop", OTHER_KEY, DOMAIN)):
        missing = plane.get(host)
        assert missing.status_code == 404
        assert "names no sandbox" in missing.text

    # Without a fork of the entry Service, the entry Service answers, with the key set for
    # the hops behind it.
    plane.set(HOSTS, RouteTable(), _keys(plane.signer))
    eventually(lambda: _served(plane.get(PUBLIC)) == "frontend", timeout=10, what="baseline")
    assert plane.get(PUBLIC).json()["baggage"] == [f"sandboxmesh-routing-key={KEY}"]

    # A sandbox gone (its hosts leave the table) stops answering at once.
    plane.set((), RouteTable(), _keys(plane.signer))
    eventually(lambda: plane.get(PUBLIC).status_code == 404, timeout=10, what="host removed")


def test_an_authenticated_host_signs_a_browser_in_through_the_control_plane(
    plane: Plane,
) -> None:
    plane.set(HOSTS, FORKED, _keys(plane.signer))
    eventually(lambda: plane.get(PUBLIC).status_code == 200, timeout=10, what="the hosts live")

    # No token: a browser is sent to the control plane with the URL it asked for.
    first = plane.get(PRIVATE, "/orders?id=7")
    assert first.status_code == 302
    location = urlsplit(first.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE
    asked = parse_qs(location.query)[preview.AUTHORIZE_URL_PARAM]
    assert asked == [f"http://{PRIVATE}:30080/orders?id=7"]
    # A program's POST is not redirected: it is told to sign in.
    post = httpx.post(f"http://127.0.0.1:{plane.port}/orders", headers={"host": PRIVATE}, timeout=5)
    assert post.status_code == 401

    # The control plane sends the browser back with a token: the gateway keeps it in a
    # host-only cookie and goes on to the page asked for.
    token = plane.signer.token()
    back = plane.get(
        PRIVATE,
        f"{preview.CALLBACK_PATH}?{preview.CALLBACK_TOKEN_PARAM}={token}"
        f"&{preview.CALLBACK_NEXT_PARAM}={quote('/orders?id=7', safe='')}",
    )
    assert back.status_code == 302, back.text
    assert back.headers["location"] == "/orders?id=7"
    cookie = back.headers["set-cookie"]
    assert cookie.startswith(f"{preview.COOKIE_NAME}={token}; Path=/; Max-Age=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Domain" not in cookie  # this host only
    assert "Secure" not in cookie  # plain HTTP here
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 500 < max_age <= 600

    answer = plane.get(PRIVATE, "/orders", cookies={preview.COOKIE_NAME: token})
    assert _served(answer) == "admin"
    assert answer.json()["baggage"] == [f"sandboxmesh-routing-key={KEY}"]
    # A program may send the token in a header of its own.
    by_header = plane.get(PRIVATE, headers={preview.TOKEN_HEADER: token})
    assert _served(by_header) == "admin"
    assert by_header.json()["previewToken"] == []  # not passed on to the application

    # `next` never leaves the host.
    for outside in ("//evil.test/x", "https://evil.test/", "/\\evil.test"):
        redirected = plane.get(
            PRIVATE,
            f"{preview.CALLBACK_PATH}?{preview.CALLBACK_TOKEN_PARAM}={token}"
            f"&{preview.CALLBACK_NEXT_PARAM}={quote(outside, safe='')}",
        )
        assert redirected.headers["location"] == "/", outside
    # A callback without a token is refused, not redirected.
    assert plane.get(PRIVATE, preview.CALLBACK_PATH).status_code == 401


def test_forged_expired_and_foreign_tokens_are_refused(plane: Plane) -> None:
    plane.set(HOSTS, FORKED, _keys(plane.signer))
    eventually(lambda: plane.get(PUBLIC).status_code == 200, timeout=10, what="the hosts live")
    now = int(time.time())
    refused = {
        "another key": _signer("k1").token(),
        "expired": plane.signer.token(iat=now - 7200, exp=now - 3600),
        "another issuer": plane.signer.token(iss="https://evil.test"),
        "another host": plane.signer.token(aud=PUBLIC),
        "not a token": "abc.def.ghi",
    }
    for what, token in refused.items():
        response = plane.get(PRIVATE, cookies={preview.COOKIE_NAME: token})
        assert response.status_code == 401, (what, response.status_code, response.text)
        callback = plane.get(
            PRIVATE, f"{preview.CALLBACK_PATH}?{preview.CALLBACK_TOKEN_PARAM}={token}"
        )
        assert callback.status_code == 401, what
        assert "set-cookie" not in callback.headers, what
    # A token for the public host's sandbox does not open the authenticated one... and the
    # public host needs none at all.
    assert _served(plane.get(PUBLIC, cookies={preview.COOKIE_NAME: "junk"})) == "frontend-pr-1"


def test_without_the_control_planes_keys_authenticated_hosts_say_so(plane: Plane) -> None:
    plane.set(HOSTS, FORKED, None)
    eventually(lambda: plane.get(PUBLIC).status_code == 200, timeout=10, what="the hosts live")
    waiting = plane.get(PRIVATE)
    assert waiting.status_code == 503
    assert "signing keys" in waiting.text
    # The keys arrive (the agent wrote them): sign-in works.
    plane.set(HOSTS, FORKED, _keys(plane.signer))
    eventually(lambda: plane.get(PRIVATE).status_code == 302, timeout=10, what="sign-in on")


def test_huge_and_malformed_requests_are_refused_by_the_gateway_not_passed_on(
    plane: Plane,
) -> None:
    plane.set(HOSTS, FORKED, _keys(plane.signer))
    eventually(lambda: plane.get(PUBLIC).status_code == 200, timeout=10, what="the hosts live")
    # Headers past Envoy's limit (60 KiB): 431, before any filter of ours runs.
    huge = plane.get(PRIVATE, cookies={preview.COOKIE_NAME: "x" * 70_000})
    assert huge.status_code == 431
    # A token that is no JWT at all, and one of 8 KiB of garbage: refused, not crashed on.
    for junk in ("...", "a.b", "%00%ff", "e" * 8000):
        refused = plane.get(PRIVATE, headers={preview.TOKEN_HEADER: junk})
        assert refused.status_code == 401, junk
    # A long `next` with a valid token: the callback still answers, on this host only.
    token = plane.signer.token()
    long_next = "/" + "a" * 4000
    back = plane.get(
        PRIVATE,
        f"{preview.CALLBACK_PATH}?{preview.CALLBACK_TOKEN_PARAM}={token}"
        f"&{preview.CALLBACK_NEXT_PARAM}={long_next}",
    )
    assert back.status_code == 302
    assert back.headers["location"] == long_next
    # The gateway still serves afterwards.
    assert plane.get(PUBLIC).status_code == 200


def test_a_traced_request_shows_the_gateways_decision_in_its_trace(plane: Plane) -> None:
    plane.set(HOSTS, FORKED, _keys(plane.signer))
    eventually(lambda: plane.get(PUBLIC).status_code == 200, timeout=10, what="the hosts live")

    def traced(host: str, **kwargs: Any) -> list[dict[str, Any]]:
        trace_id = secrets.token_hex(16)
        headers = {
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            "tracestate": "sandboxmesh=1",
            **kwargs.pop("headers", {}),
        }
        plane.get(host, headers=headers, **kwargs)
        url = f"http://127.0.0.1:{plane.server.http_port}/v1/traces/{trace_id}"
        found = eventually(
            lambda: (r := httpx.get(url, timeout=5)).status_code == 200 and r.json()["hops"],
            timeout=10,
            what="the gateway's hop",
        )
        hops: list[dict[str, Any]] = found
        return hops

    (hop,) = traced(PUBLIC)
    assert hop["service"] == f"preview-gateway/{PUBLIC}"
    assert (hop["decision"], hop["reason"]) == (
        "pr-1",
        "the preview host is sandbox pr-1's: the gateway set its key",
    )
    (refused,) = traced(PRIVATE)
    assert (refused["decision"], refused["reason"]) == (
        "none",
        "the preview of pr-1 asked for a sign-in: the gateway answered 302",
    )
    (unknown,) = traced(f"nothing-{KEY}.{DOMAIN}")
    assert unknown["reason"] == "the host names no preview: the gateway answered 404"
    (signed,) = traced(PRIVATE, cookies={preview.COOKIE_NAME: plane.signer.token()})
    assert signed["decision"] == "pr-1"


def _wildcard_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for *.preview.test, as a Secret would hold one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{DOMAIN}")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"*.{DOMAIN}")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_a_tls_gateway_serves_https_and_its_cookie_is_secure(tmp_path: Path) -> None:
    cert_file, key_file = _wildcard_certificate(tmp_path)
    listen = Gateway(
        listen_address="127.0.0.1",
        listen_port=0,
        tls_certificate_file=str(cert_file),
        tls_key_file=str(key_file),
    )
    https_hosts = tuple(
        PreviewHost(h.host, h.sandbox, h.key, h.entry, h.port, h.access, f"https://{h.host}")
        for h in HOSTS
    )
    trust = ssl.create_default_context(cafile=str(cert_file))
    with _plane(tmp_path, listen) as plane:
        plane.set(https_hosts, FORKED, _keys(plane.signer))

        def get(host: str, path: str = "/", **kwargs: Any) -> httpx.Response:
            # Sent to the gateway's address, named as DNS would name it (SNI and Host). A
            # connection each time: one kept alive stays on the listener it was accepted by,
            # and the listener is replaced when the keys arrive (a connection from before
            # keeps being sent to sign in: it fails closed).
            with httpx.Client(verify=trust) as client:
                return client.get(
                    f"https://127.0.0.1:{plane.port}{path}",
                    headers={"host": host},
                    extensions={"sni_hostname": host},
                    timeout=5,
                    **kwargs,
                )

        answer = eventually(
            lambda: (r := get(PUBLIC)).status_code == 200 and r, timeout=10, what="https"
        )
        assert answer.json()["servedBy"] == "frontend-pr-1"
        # The browser is sent back to https, and the cookie is Secure.
        asked = get(PRIVATE, "/x")
        assert asked.status_code == 302
        assert parse_qs(urlsplit(asked.headers["location"]).query)["url"] == [
            f"https://{PRIVATE}/x"
        ]
        token = plane.signer.token()
        back = get(PRIVATE, f"{preview.CALLBACK_PATH}?{preview.CALLBACK_TOKEN_PARAM}={token}")
        assert back.status_code == 302, back.text
        assert back.headers["set-cookie"].endswith("; Secure")
        # Plain HTTP to the TLS port is no request the gateway serves.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{plane.port}/", headers={"host": PUBLIC}, timeout=5)
