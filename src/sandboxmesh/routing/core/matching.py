"""Which requests carry a routing key: header rules shared by Envoy, Istio and Gateway API.

A request belongs to a sandbox when it carries the sandbox's key (DESIGN.md §3):

- in the W3C `baggage` header as the list member ``sandboxmesh-routing-key=<key>``, among
  other members and properties, with optional whitespace, percent-encoding of the value, and
  possibly spread over several `baggage` headers (proxies join repeated headers with ``,``);
- or as the whole value of ``x-sandboxmesh-routing-key`` (or of further configured headers).

The single source of truth is `baggage_pattern`: an RE2-compatible regular expression that
must match the *whole* header value (Envoy's `safe_regex` and Istio's `regex` match that way;
Python's `re.fullmatch` does the same, so the unit tests exercise the very pattern Envoy runs).

Envoy routers do not run one such pattern per fork on every request: they read the member's
value once (`baggage_key_pattern`) and look it up among the keys, and only baggage that this
reading cannot judge alone (`baggage_needs_patterns`: the member twice, or percent-encoding in
it) goes through the patterns in table order. `baggage_lookup` is that procedure in Python;
the unit tests hold it to the patterns' verdict.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from sandboxmesh.spec import names

BAGGAGE_HEADER = "baggage"
ROUTING_KEY_HEADER = "x-sandboxmesh-routing-key"
#: The baggage list-member key that carries the routing key.
BAGGAGE_MEMBER = "sandboxmesh-routing-key"
#: Where an Envoy router puts the value it read from the baggage member, to look it up among
#: the keys (envoy_resources); a client's own value is replaced before it is read, and the
#: header is never forwarded.
BAGGAGE_KEY_HEADER = "x-sandboxmesh-baggage-key"

_KEY = re.compile(names.ROUTING_KEY_PATTERN)
# An HTTP header name (RFC 9110 token), lower-cased as HTTP/2 and Envoy carry it.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
# Optional whitespace as W3C baggage defines it (OWS = *( SP / HTAB )).
_OWS = "[ \t]*"


class MatchKind(StrEnum):
    #: The whole header value is the key (surrounding whitespace is not part of an HTTP value).
    EXACT = "exact"
    #: The header value, as a full-match RE2 regular expression.
    REGEX = "regex"


@dataclass(frozen=True)
class HeaderMatch:
    """One way a request can carry a key: header `name` matched by `kind` against `value`."""

    name: str
    kind: MatchKind
    value: str


class InvalidRoutingKey(ValueError):
    """A string that is not a routing key reached a matcher; it would make a wrong regex."""


class InvalidHeaderName(ValueError):
    """A configured header name is not an HTTP token in lower case."""


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidRoutingKey(
            f"not a routing key: {key!r} (expected {names.ROUTING_KEY_PATTERN})"
        )
    return key


def check_header_name(name: str) -> str:
    lowered = name.strip().lower()
    if not _HEADER_NAME.fullmatch(lowered):
        raise InvalidHeaderName(f"not an HTTP header name: {name!r}")
    return lowered


def _octet(char: str) -> str:
    """`char` literally or percent-encoded, hex digits in either case (RFC 3986 §2.1)."""
    code = f"{ord(char):02x}"
    digits = "".join(f"[{digit}{digit.upper()}]" if digit.isalpha() else digit for digit in code)
    return f"(?:{re.escape(char)}|%{digits})"


def baggage_value_pattern(key: str) -> str:
    """A pattern matching exactly the baggage values that percent-decode to `key`."""
    return "".join(_octet(char) for char in check_key(key))


@functools.lru_cache(maxsize=65536)
def baggage_pattern(key: str, member: str = BAGGAGE_MEMBER) -> str:
    """A full-match RE2 pattern for a baggage header value holding ``member=<key>``.

    Grammar (W3C Baggage): ``list-member *( OWS "," OWS list-member )`` with
    ``list-member = key OWS "=" OWS value *( OWS ";" OWS property )``. Commas appear only
    between members (values and properties cannot hold one), so "start of value, or after a
    comma" is exactly "at the start of a member"; a member name inside a property, after
    ``;``, does not count. After the value come only whitespace, then properties, the next
    member, or the end: a longer value that merely starts with the key does not match.

    Cached: the route server renders every route on each change of the table, and building
    a pattern is most of what a route costs it (0.13 ms each, 1,000 routes: 130 ms a render).
    """
    return (
        f"(?:.*,)?{_OWS}{re.escape(member)}{_OWS}={_OWS}"
        f"{baggage_value_pattern(key)}{_OWS}(?:;[^,]*)?(?:,.*)?"
    )


def _member_start(member: str) -> str:
    """The start of a list member named `member`, up to its `=` (at the start, or after a
    comma: commas only ever separate members)."""
    return f"(?:.*,)?{_OWS}{re.escape(member)}{_OWS}={_OWS}"


def baggage_key_pattern(member: str = BAGGAGE_MEMBER) -> str:
    """A full-match RE2 pattern of any baggage value whose group 1 is the value of a member
    `member` shaped as `baggage_pattern` reads one (the last such member), or empty.

    The value is taken verbatim (no percent-decoding): baggage where that matters is what
    `baggage_needs_patterns` sets apart. The second alternative matches everything else, so
    the rewrite that applies this pattern never passes the header through unchanged.
    """
    return f"^(?:{_member_start(member)}([^,; \t]*){_OWS}(?:;[^,]*)?(?:,.*)?|(?s:.*))$"


def baggage_needs_patterns(member: str = BAGGAGE_MEMBER) -> str:
    """A full-match RE2 pattern of the baggage values a lookup of the one value that
    `baggage_key_pattern` reads cannot judge: those with two members `member` (either may
    carry the key) and those with a `%` after a member's `=` (its value may be
    percent-encoded). These go through each key's `baggage_pattern` instead. (Broader than
    needed, e.g. a `%` in a property: such baggage costs the patterns, never a wrong route.)"""
    again = f".*,{_OWS}{re.escape(member)}{_OWS}="
    return f"{_member_start(member)}(?:{again}.*|[^,]*%.*)"


def baggage_may_carry(member: str = BAGGAGE_MEMBER) -> str:
    """A full-match RE2 pattern of baggage values holding a member `member` at all."""
    return f"{_member_start(member)}.*"


def baggage_lookup(values: list[str], keys: list[str], member: str = BAGGAGE_MEMBER) -> str | None:
    """The key among `keys` (in table order) that `baggage` header `values` carry, as an
    Envoy router decides it: the patterns in order when the baggage needs them, otherwise a
    lookup of the member's value read once. Agrees with the first key whose
    `baggage_pattern` matches (the unit tests check it across the grammar)."""
    if not values:
        return None
    joined = ",".join(value.strip(" \t") for value in values)
    if re.fullmatch(baggage_needs_patterns(member), joined):
        for key in keys:
            if re.fullmatch(baggage_pattern(key, member), joined):
                return key
        return None
    found = re.fullmatch(baggage_key_pattern(member), joined)
    value = found.group(1) if found else None
    return value if value in keys else None


@dataclass(frozen=True)
class KeyHeaders:
    """The headers a routing key is read from.

    `exact_headers` take precedence over baggage when a request carries different keys in
    both: an explicit header is a deliberate choice of the caller, while baggage may have
    been inherited from far upstream.
    """

    exact_headers: tuple[str, ...] = (ROUTING_KEY_HEADER,)
    baggage_header: str = BAGGAGE_HEADER
    baggage_member: str = BAGGAGE_MEMBER

    @classmethod
    def with_extra(cls, extra: list[str] | tuple[str, ...] = ()) -> KeyHeaders:
        """The default headers plus `extra` exact-match header names (validated, deduplicated)."""
        headers = [ROUTING_KEY_HEADER]
        for name in extra:
            checked = check_header_name(name)
            if checked == BAGGAGE_HEADER:
                raise InvalidHeaderName("`baggage` is always read with the baggage grammar")
            if checked not in headers:
                headers.append(checked)
        return cls(exact_headers=tuple(headers))


def header_matches(key: str, headers: KeyHeaders) -> list[HeaderMatch]:
    """Each way a request can carry `key`, in precedence order; any one of them suffices."""
    check_key(key)
    matches = [HeaderMatch(name, MatchKind.EXACT, key) for name in headers.exact_headers]
    matches.append(
        HeaderMatch(
            headers.baggage_header,
            MatchKind.REGEX,
            baggage_pattern(key, headers.baggage_member),
        )
    )
    return matches


def request_matches(match: HeaderMatch, values: list[str]) -> bool:
    """Whether a request whose header `match.name` has `values` satisfies `match`.

    Repeated headers are joined with ``,`` before matching, as Envoy does; the Envoy-level
    tests prove the two agree. Used by tests and by applications that route by themselves.
    """
    if not values:
        return False
    joined = ",".join(value.strip(" \t") for value in values)
    if match.kind is MatchKind.EXACT:
        return joined == match.value
    return re.fullmatch(match.value, joined) is not None
