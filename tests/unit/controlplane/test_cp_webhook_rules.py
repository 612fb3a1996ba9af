"""The webhook's pure rules: the stored digest verifies as the secret does, and which
deliveries and sandboxes a closed pull request concerns."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from sandboxmesh.controlplane.domain import webhooks


def test_the_stored_digest_verifies_what_github_signs_with_the_secret() -> None:
    issued = webhooks.issue_secret()
    assert issued.plaintext.startswith("smw_")
    body = b'{"action": "closed", "number": 1}'
    # GitHub signs with the secret's text; the store holds only its SHA-256 digest.
    header = "sha256=" + hmac.new(issued.plaintext.encode(), body, hashlib.sha256).hexdigest()
    assert issued.digest == hashlib.sha256(issued.plaintext.encode()).hexdigest()
    assert webhooks.signature_matches(issued.digest, body, header)
    assert not webhooks.signature_matches(issued.digest, body + b" ", header)
    assert not webhooks.signature_matches(issued.digest, body, header.upper())
    assert not webhooks.signature_matches(issued.digest, body, None)
    assert not webhooks.signature_matches(issued.digest, body, "sha256=é")
    # No key (no organisation, no secret): nothing matches, not even a signature of nothing.
    assert not webhooks.signature_matches(None, body, header)


def test_a_short_secret_would_not_do() -> None:
    # Why the secret is longer than the block: a short key is padded, not hashed, so its
    # digest would not verify.
    short = b"short secret"
    body = b"{}"
    with_secret = hmac.new(short, body, hashlib.sha256).hexdigest()
    assert hmac.new(hashlib.sha256(short).digest(), body, hashlib.sha256).hexdigest() != with_secret


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        (
            "pull_request",
            {"action": "closed", "number": 4, "repository": {"name": "shop"}},
            (4, "shop"),
        ),
        ("pull_request", {"action": "closed", "pull_request": {"number": 5}}, (5, None)),
        (
            "pull_request",
            {"action": "closed", "number": 6, "repository": {"name": "a/b"}},
            (6, None),
        ),
        ("pull_request", {"action": "opened", "number": 4}, None),
        ("push", {"action": "closed", "number": 4}, None),
        ("ping", {"zen": "hi"}, None),
    ],
)
def test_closed_pull_requests(event: str, payload: dict[str, object], expected: object) -> None:
    found = webhooks.closed_pull_request(event, json.dumps(payload).encode())
    assert (None if found is None else (found.number, found.repository)) == expected


@pytest.mark.parametrize(
    "body",
    [b"payload=%7B%7D", b"[]", b'{"action": "closed"}', b'{"action": "closed", "number": true}'],
)
def test_malformed_deliveries(body: bytes) -> None:
    with pytest.raises(webhooks.Malformed):
        webhooks.closed_pull_request("pull_request", body)


def test_which_sandboxes_belong_to_a_pull_request() -> None:
    closed = webhooks.ClosedPullRequest(42, "shop")
    assert webhooks.belongs({"pr": "42", "repo": "shop"}, closed)
    assert webhooks.belongs({"pr": "42"}, closed)
    assert not webhooks.belongs({"pr": "42", "repo": "billing"}, closed)
    assert not webhooks.belongs({"pr": "420"}, closed)
    assert not webhooks.belongs({}, closed)
    assert not webhooks.belongs({"pr": "42", "repo": "shop"}, webhooks.ClosedPullRequest(42, None))


def test_delivery_ids() -> None:
    assert webhooks.delivery_id("72d3162e-cc78-11e3-81ab-4c9367dc0958") is not None
    for bad in (None, "", "x" * 65, "a b", "../x"):
        assert webhooks.delivery_id(bad) is None
