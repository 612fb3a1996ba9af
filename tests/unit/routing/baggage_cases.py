"""Baggage headers across the W3C grammar, and an independent reference reading of it.

Shared by the unit tests of the matcher (against Python's `re`) and the Envoy-level test
(against real Envoy), so both judge the same cases by the same reference.
"""

from __future__ import annotations

import random
import re
import string
from urllib.parse import unquote

from sandboxmesh.routing.core import matching

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$&'*+-.^_`|~"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\%')


def reference_carries(key: str, values: list[str]) -> bool:
    """W3C Baggage, read by splitting: members on ',', properties on ';', OWS trimmed."""
    for member in ",".join(values).split(","):
        head = member.split(";", 1)[0]
        if "=" not in head:
            continue
        name, value = head.split("=", 1)
        name, value = name.strip(" \t"), value.strip(" \t")
        if name != matching.BAGGAGE_MEMBER or not value or any(c in value for c in " \t"):
            continue
        if any(c not in VALUE_CHARS + "%" for c in value):
            continue
        if re.search(r"%(?![0-9A-Fa-f]{2})", value):
            continue  # a malformed escape is not an encoding of anything
        if unquote(value) == key:
            return True
    return False


def _ows(rng: random.Random) -> str:
    return rng.choice(["", "", " ", "  ", "\t", " \t"])


def _encode(rng: random.Random, text: str) -> str:
    out = []
    for char in text:
        if rng.random() < 0.3:
            hexed = f"{ord(char):02x}"
            out.append("%" + (hexed.upper() if rng.random() < 0.5 else hexed))
        else:
            out.append(char)
    return "".join(out)


def _near_key(rng: random.Random, key: str) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return key
    if choice == 1:
        return key + rng.choice("0a%")
    if choice == 2:
        return key[: rng.randrange(len(key))]
    if choice == 3:
        i = rng.randrange(len(key))
        return key[:i] + rng.choice(string.ascii_lowercase + string.digits) + key[i + 1 :]
    if choice == 4:
        return key.upper()
    return "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randrange(1, 12)))


def _property(rng: random.Random) -> str:
    name = "".join(rng.choice(TOKEN_CHARS) for _ in range(rng.randrange(1, 6)))
    if rng.random() < 0.5:
        return name
    value = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randrange(0, 6)))
    return f"{name}{_ows(rng)}={_ows(rng)}{value}"


def _member(rng: random.Random, key: str) -> str:
    if rng.random() < 0.5:
        name = matching.BAGGAGE_MEMBER
        value = _encode(rng, _near_key(rng, key))
    else:
        name = rng.choice(["userId", "x", "sandboxmesh-routing-keys", "routing-key", "k.y"])
        value = _encode(rng, rng.choice([key, "alice", "v%2C1"]))
    member = f"{_ows(rng)}{name}{_ows(rng)}={_ows(rng)}{value}{_ows(rng)}"
    for _ in range(rng.choice([0, 0, 1, 2])):
        member += f";{_ows(rng)}{_property(rng)}{_ows(rng)}"
    return member


def baggage_headers(rng: random.Random, key: str) -> list[str]:
    """One to four members, spread over one or more `baggage` header values."""
    members = [_member(rng, key) for _ in range(rng.randrange(1, 5))]
    cut = sorted(rng.sample(range(1, len(members)), rng.randrange(0, len(members))))
    return [",".join(members[a:b]) for a, b in zip([0, *cut], [*cut, len(members)], strict=True)]
