"""The routers' reading of baggage (one read of the member's value, then a lookup among the
keys; the per-key patterns only for baggage that needs them), held to the patterns' verdict."""

from __future__ import annotations

import random
import re

import pytest
from tests.unit.routing import baggage_cases

from sandboxmesh.routing.core import matching

KEY = "abc123xyz0"
OTHER = "abc123xyz1"
MEMBER = matching.BAGGAGE_MEMBER


def by_patterns(values: list[str], keys: list[str]) -> str | None:
    """What one route per key, in table order, each with its baggage pattern, decides."""
    joined = ",".join(value.strip(" \t") for value in values)
    for key in keys:
        if values and re.fullmatch(matching.baggage_pattern(key), joined):
            return key
    return None


@pytest.mark.parametrize(
    ("header", "needs_patterns"),
    [
        (f"{MEMBER}={KEY}", False),
        (f"userId=alice, {MEMBER} = {KEY} ;p=%41, z=2", True),  # a % after the member's `=`
        (f"x=%2C,{MEMBER}={KEY}", False),  # before it: the value read is verbatim all the same
        (f"{MEMBER}=%61bc123xyz0", True),
        (f"{MEMBER}={OTHER},{MEMBER}={KEY}", True),
        (f"{MEMBER}={OTHER} , u=1,\t{MEMBER}\t={KEY}", True),
        (f"u=1;{MEMBER}={OTHER},{MEMBER}={KEY}", False),  # a property is not a member
        ("userId=alice", False),
    ],
)
def test_only_baggage_a_single_read_cannot_judge_needs_the_patterns(
    header: str, needs_patterns: bool
) -> None:
    assert bool(re.fullmatch(matching.baggage_needs_patterns(), header)) is needs_patterns
    assert matching.baggage_lookup([header], [OTHER, KEY]) == by_patterns([header], [OTHER, KEY])


@pytest.mark.parametrize(
    ("header", "read"),
    [
        (f"{MEMBER}={KEY}", KEY),
        (f" u=a ,\t{MEMBER} =\t{KEY}\t; ttl=1 ; flag , z=2", KEY),
        (f"u=a;{MEMBER}={KEY}", ""),
        (f"{MEMBER}={KEY} x", ""),
        (f"{MEMBER}s={KEY}", ""),
        (KEY, ""),
        ("", ""),
    ],
)
def test_the_value_read_is_the_members_or_nothing(header: str, read: str) -> None:
    found = re.fullmatch(matching.baggage_key_pattern(), header)
    assert found is not None  # every header matches: the rewrite never passes one through
    assert (found.group(1) or "") == read


def test_the_lookup_agrees_with_the_patterns_across_the_grammar() -> None:
    rng = random.Random(20261207)
    keys = ["abc123xyz0", "k" * 16, "0123456789"]
    carried = 0
    for _ in range(6000):
        key = rng.choice(keys)
        values = baggage_cases.baggage_headers(rng, key)
        # A table with neighbours of the key, before and after it, as routes would have it.
        table = [key[:-1] + "q", key, key[::-1], "q" + key[1:]]
        expected = by_patterns(values, table)
        assert matching.baggage_lookup(values, table) == expected, values
        assert (expected == key) == baggage_cases.reference_carries(key, values)
        carried += expected is not None
    assert 1000 < carried < 5000


def test_the_new_patterns_stay_within_the_re2_subset() -> None:
    for pattern in (
        matching.baggage_key_pattern(),
        matching.baggage_needs_patterns(),
        matching.baggage_may_carry(),
    ):
        assert not re.search(r"\(\?[=!<P]|\\[1-9]|[*+?]\+", pattern)
