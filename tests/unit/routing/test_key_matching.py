"""The routing-key matchers: the very regexes Envoy, Istio and Gateway API run, tested with `re`.

Besides hand-picked cases, a seeded generator builds thousands of baggage headers across the
grammar (members, properties, whitespace, percent-encoding, repeated headers) and compares
the regex with an independent reference reading of the W3C Baggage grammar.
"""

from __future__ import annotations

import random
import re

import pytest
from tests.unit.routing import baggage_cases

from sandboxmesh.routing.core import matching
from sandboxmesh.routing.core.matching import HeaderMatch, KeyHeaders, MatchKind

KEY = "abc123xyz0"
OTHER = "abc123xyz1"


def baggage_carries(key: str, values: list[str]) -> bool:
    pattern = matching.baggage_pattern(key)
    return matching.request_matches(HeaderMatch("baggage", MatchKind.REGEX, pattern), values)


@pytest.mark.parametrize(
    "header",
    [
        f"sandboxmesh-routing-key={KEY}",
        f"  sandboxmesh-routing-key = {KEY}  ",
        f"\tsandboxmesh-routing-key\t=\t{KEY}\t",
        f"userId=alice,sandboxmesh-routing-key={KEY}",
        f"userId=alice , sandboxmesh-routing-key={KEY} , isProduction=false",
        f"sandboxmesh-routing-key={KEY};ttl=10;flag",
        f"sandboxmesh-routing-key={KEY} ; ttl = 10 , other=x;p",
        f"a=1;sandboxmesh-routing-key=nope,sandboxmesh-routing-key={KEY}",
        "sandboxmesh-routing-key=%61%62%63%31%32%33%78%79%7A%30",
        "sandboxmesh-routing-key=%61bc%3123xy%7a0",
        f"x=%2C%3B,sandboxmesh-routing-key={KEY}",
        f"sandboxmesh-routing-key={OTHER},sandboxmesh-routing-key={KEY}",
    ],
)
def test_baggage_member_carrying_the_key_matches(header: str) -> None:
    assert baggage_carries(KEY, [header])


@pytest.mark.parametrize(
    "header",
    [
        "",
        KEY,
        f"sandboxmesh-routing-key={OTHER}",
        f"sandboxmesh-routing-key={KEY}0",
        f"sandboxmesh-routing-key={KEY}%30",
        f"sandboxmesh-routing-key=x{KEY}",
        f"sandboxmesh-routing-key={KEY.upper()}",
        f"sandboxmesh-routing-key=%2{KEY}",
        f"other=v;sandboxmesh-routing-key={KEY}",
        f"x-sandboxmesh-routing-key={KEY}",
        f"sandboxmesh-routing-keys={KEY}",
        f"Sandboxmesh-Routing-Key={KEY}",
        f"sandboxmesh-routing-key {KEY}",
        f"sandboxmesh-routing-key={KEY[:5]} {KEY[5:]}",
        f"other={KEY}",
        f"sandboxmesh-routing-key=\n{KEY}",
    ],
)
def test_baggage_without_the_member_does_not_match(header: str) -> None:
    assert not baggage_carries(KEY, [header])


def test_repeated_baggage_headers_are_read_as_one_list() -> None:
    assert baggage_carries(KEY, ["userId=alice", f"sandboxmesh-routing-key={KEY};p=1", "z=2"])
    assert not baggage_carries(KEY, ["userId=alice", f"sandboxmesh-routing-key={OTHER}"])
    assert not baggage_carries(KEY, [])


def test_every_character_may_be_percent_encoded_in_either_case() -> None:
    for key in ["abcdefghijklmnop", "qrstuvwxyz012345", "6789000000aaaaaa"]:
        upper = "".join(f"%{ord(c):02X}" for c in key)
        lower = "".join(f"%{ord(c):02x}" for c in key)
        assert baggage_carries(key, [f"sandboxmesh-routing-key={upper}"])
        assert baggage_carries(key, [f"sandboxmesh-routing-key={lower}"])
        assert not baggage_carries(key, [f"sandboxmesh-routing-key=%{upper}"])


def test_patterns_stay_within_the_re2_subset() -> None:
    # No backreferences, lookarounds or possessive forms: RE2 (Envoy, Istio, Go) rejects them.
    pattern = matching.baggage_pattern(KEY)
    assert not re.search(r"\(\?[=!<>P]|\\[1-9]|[*+?]\+", pattern)


@pytest.mark.parametrize("bad", ["short", "UPPERCASE123", "abc-123-xyz", "a" * 17, "", "é" * 10])
def test_a_bad_key_never_reaches_a_pattern(bad: str) -> None:
    with pytest.raises(matching.InvalidRoutingKey):
        matching.baggage_pattern(bad)
    with pytest.raises(matching.InvalidRoutingKey):
        matching.header_matches(bad, KeyHeaders())


def test_header_matches_put_exact_headers_before_baggage() -> None:
    headers = KeyHeaders.with_extra(["X-Tenant-Route", "x-sandboxmesh-routing-key"])
    matches = matching.header_matches(KEY, headers)
    assert [(m.name, m.kind) for m in matches] == [
        ("x-sandboxmesh-routing-key", MatchKind.EXACT),
        ("x-tenant-route", MatchKind.EXACT),
        ("baggage", MatchKind.REGEX),
    ]
    exact = matches[0]
    assert matching.request_matches(exact, [f"  {KEY} "])
    assert not matching.request_matches(exact, [KEY, KEY])
    assert not matching.request_matches(exact, [OTHER])


@pytest.mark.parametrize("bad", ["baggage", "two words", "x:y", ""])
def test_extra_header_names_are_checked(bad: str) -> None:
    with pytest.raises(matching.InvalidHeaderName):
        KeyHeaders.with_extra([bad])


def test_pattern_agrees_with_the_reference_reading_across_the_grammar() -> None:
    rng = random.Random(20260101)
    keys = ["abc123xyz0", "k" * 16, "0123456789"]
    matched = unmatched = 0
    for _ in range(6000):
        key = rng.choice(keys)
        values = baggage_cases.baggage_headers(rng, key)
        expected = baggage_cases.reference_carries(key, values)
        assert baggage_carries(key, values) == expected, values
        matched += expected
        unmatched += not expected
    # The generator must exercise both outcomes substantially, or the test proves little.
    assert matched > 1000
    assert unmatched > 1000
