"""The pure rules of authenticated previews: which URLs are previews, where the browser goes
back to, the token's claims and signature, the JWKS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from sandboxmesh.controlplane.domain import preview_access, preview_keys
from sandboxmesh.spec import preview

T0 = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
KEY = "k3j9x0q2m1n8b7v6"


def test_a_preview_url_names_its_origin_host_key_and_where_to_return() -> None:
    asked = preview_access.asked_preview(
        f"HTTPS://Web-App-{KEY}.Preview.Example.COM:443/cart/items?id=7&x=a%20b#frag"
    )
    assert asked.origin == f"https://web-app-{KEY}.preview.example.com"
    assert asked.hostname == f"web-app-{KEY}.preview.example.com"
    assert (asked.endpoint, asked.routing_key) == ("web-app", KEY)
    assert asked.next_path == "/cart/items?id=7&x=a%20b"


def test_a_port_other_than_the_schemes_stays_in_the_origin() -> None:
    asked = preview_access.asked_preview(f"http://web-{KEY}.localtest.me:8080")
    assert asked.origin == f"http://web-{KEY}.localtest.me:8080"
    assert asked.hostname == f"web-{KEY}.localtest.me"
    assert asked.next_path == "/"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        f"ftp://web-{KEY}.example.com/",
        f"javascript://web-{KEY}.example.com/%0aalert(1)",
        f"//web-{KEY}.example.com/",
        f"https://user:pw@web-{KEY}.example.com/",
        f"https://web-{KEY}.example.com:99999/",
        f"https://web-{KEY}.example.com:port/",
        "https://[::1]/",
        "https://10.0.0.1/",
        f"https://web-{KEY}/",  # no domain
        f"https://{KEY}.example.com/",  # no endpoint
        "https://web-SHORT.example.com/",
        "https://web-short.example.com/",  # key too short
        "https://web-abcdefghijklmnopq.example.com/",  # key too long
        "https://-web-abcdefghijkl.example.com/",
        f"https://web_x-{KEY}.example.com/",
        f"https://{'a' * 47}-{KEY}.example.com/",  # endpoint too long
        f"https://web-{KEY}.example.com/\x00",
        f"https://web-{KEY}.example.com/\u00e9",
        f"https://web-{KEY}.example.com/" + "a" * preview_access.MAX_URL_LENGTH,
    ],
)
def test_what_is_not_a_preview_url_is_refused(url: str) -> None:
    with pytest.raises(preview_access.RefusedUrl):
        preview_access.asked_preview(url)


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("", "", "/"),
        ("/", "", "/"),
        ("/a/b", "c=d", "/a/b?c=d"),
        ("//evil.example/x", "", "/evil.example/x"),
        ("///evil.example", "", "/evil.example"),
        ("/\\evil.example", "", "/%5Cevil.example"),
        ("\\\\evil.example", "", "/%5C%5Cevil.example"),
        ("/a b\t", "q=1 2", "/a%20b%09?q=1%202"),
        ("/%2F%2Fevil", "", "/%2F%2Fevil"),
        ("/ok", "next=//evil.example&u=https://x", "/ok?next=//evil.example&u=https://x"),
    ],
)
def test_next_is_always_one_path_of_the_same_host(path: str, query: str, expected: str) -> None:
    made = preview_access.next_path(path, query)
    assert made == expected
    assert made.startswith("/")
    assert not made.startswith("//")
    assert "\\" not in made


def test_the_origin_must_be_one_of_the_sandboxs_preview_urls() -> None:
    asked = preview_access.asked_preview(f"https://web-{KEY}.example.com/x")
    assert preview_access.matches_preview_urls(
        asked, ["http://api-x.example.com/", f"https://WEB-{KEY}.example.com:443/"]
    )
    assert not preview_access.matches_preview_urls(asked, [f"http://web-{KEY}.example.com/"])
    assert not preview_access.matches_preview_urls(asked, [f"https://web-{KEY}.example.com:8443"])
    assert not preview_access.matches_preview_urls(asked, ["garbage", ""])
    assert not preview_access.matches_preview_urls(asked, [])


def test_claims_carry_the_contract_and_never_live_longer_than_the_maximum() -> None:
    claims = preview_access.claims(
        issuer="https://cp.example.com",
        audience="web-x.example.com",
        subject="ada@acme.example",
        sandbox="pr-42",
        now=T0,
        lifetime=timedelta(hours=5),
    )
    issued = int(T0.timestamp())
    assert claims == {
        "iss": "https://cp.example.com",
        "aud": "web-x.example.com",
        "sub": "ada@acme.example",
        "sbx": "pr-42",
        "iat": issued,
        "exp": issued + preview.MAX_TOKEN_SECONDS,
    }
    short = preview_access.claims(
        issuer="i", audience="a", subject="s", sandbox="b", now=T0, lifetime=timedelta(minutes=5)
    )
    assert short["exp"] - short["iat"] == 300
    with pytest.raises(ValueError, match="positive"):
        preview_access.claims(
            issuer="i", audience="a", subject="s", sandbox="b", now=T0, lifetime=timedelta(0)
        )


def test_the_jwks_has_the_public_half_and_its_thumbprint_as_kid() -> None:
    key = preview_keys.new_signing_key(T0)
    published = preview_keys.jwks([key])
    assert json.loads(json.dumps(published)) == published
    [jwk] = published["keys"]
    assert set(jwk) == {"kid", "kty", "crv", "x", "y", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert jwk["kid"] == key.kid
    # RFC 7638 thumbprint, as another implementation computes it.
    assert jwk["kid"] == jwt.PyJWK(jwk).key_id
    assert "d" not in jwk
    assert key.private_pem not in json.dumps(published)
    # The same key always gets the same id; another key another.
    assert preview_keys.public_jwk(key.private_key().public_key())["kid"] == key.kid
    assert preview_keys.new_signing_key(T0).kid != key.kid


def test_a_signed_token_verifies_with_the_jwks_and_only_for_its_audience() -> None:
    key = preview_keys.new_signing_key(T0)
    other = preview_keys.new_signing_key(T0)
    now = datetime.now(UTC)
    claims = preview_access.claims(
        issuer="https://cp.example.com",
        audience=f"web-{KEY}.example.com",
        subject="ada@acme.example",
        sandbox="pr-42",
        now=now,
        lifetime=timedelta(minutes=10),
    )
    token = preview_access.sign(key, claims)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    keys = jwt.PyJWKSet.from_dict(preview_keys.jwks([other, key]))
    verifying = keys[key.kid].key
    decoded = jwt.decode(
        token,
        verifying,
        algorithms=["ES256"],
        audience=f"web-{KEY}.example.com",
        issuer="https://cp.example.com",
    )
    assert decoded == claims
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, verifying, algorithms=["ES256"], audience="web-other.example.com")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            keys[other.kid].key,
            algorithms=["ES256"],
            audience=f"web-{KEY}.example.com",
        )


def test_the_callback_url_is_at_the_asked_origin_with_token_and_next_encoded() -> None:
    asked = preview_access.asked_preview(f"https://web-{KEY}.example.com:8443/a b?x=1&y=%2F")
    url = preview_access.callback_url(asked, "aaa.bbb.ccc")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == f"https://web-{KEY}.example.com:8443"
    assert parts.path == preview.CALLBACK_PATH
    query = parse_qs(parts.query, strict_parsing=True)
    assert query == {
        preview.CALLBACK_TOKEN_PARAM: ["aaa.bbb.ccc"],
        preview.CALLBACK_NEXT_PARAM: ["/a%20b?x=1&y=%2F"],
    }
