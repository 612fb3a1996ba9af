"""Name and value grammars shared by the API, the CRD and the operator.

Each grammar is a regular expression that both pydantic (Rust regex) and the Kubernetes
API server (Go RE2) accept, so the same pattern can be written into the CRD schema.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# RFC 1123 label, as Kubernetes uses it for namespaces and Service names.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# RFC 1123 subdomain, as Kubernetes uses it for most object names.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# An environment variable name as kubelet accepts it (C identifier plus dots and dashes).
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# A Kubernetes kind: an upper-case initial, then letters and digits.
KIND_PATTERN = r"^[A-Z][A-Za-z0-9]*$"
# A label value: empty, or up to 63 alphanumerics with -_. inside.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# A label key without prefix (users' sandbox labels are simple keys).
LABEL_KEY_PATTERN = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
# Go-style duration limited to hours, minutes and seconds, plus days for convenience.
DURATION_PATTERN = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
# A routing key: lowercase letters and digits, 10 to 16 characters (DESIGN.md §3).
ROUTING_KEY_PATTERN = r"^[a-z0-9]{10,16}$"

SANDBOX_NAME_MAX = 40

SandboxName = Annotated[
    str, Field(min_length=1, max_length=SANDBOX_NAME_MAX, pattern=DNS_LABEL_PATTERN)
]
DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
KindName = Annotated[str, Field(min_length=1, max_length=63, pattern=KIND_PATTERN)]
EnvName = Annotated[str, Field(min_length=1, max_length=256, pattern=ENV_NAME_PATTERN)]
RoutingKey = Annotated[str, Field(pattern=ROUTING_KEY_PATTERN)]
Duration = Annotated[str, Field(min_length=2, max_length=32, pattern=DURATION_PATTERN)]

_DURATION_PART = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration_seconds(text: str) -> int:
    """Seconds in a duration such as ``4h`` or ``1h30m``; ValueError when it does not parse."""
    if not text or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 4h, 1h30m, 2d)")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


# A W3C trace-id: the 32 lowercase hex digits of a `traceparent` (all zeros is invalid).
TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"
_NO_TRACE_ID = "0" * 32


def _not_all_zero(value: str) -> str:
    if value == _NO_TRACE_ID:
        raise ValueError("the all-zero trace id is invalid (W3C Trace Context)")
    return value


TraceId = Annotated[
    str,
    Field(min_length=32, max_length=32, pattern=TRACE_ID_PATTERN),
    AfterValidator(_not_all_zero),
]


#: Suffix of the copy of a routed Service through which its routers reach the baseline
#: (routing.core.routers.baseline_copy_name). A fork Service copied from it serves the original
#: Service: the operator sees the copy as the Service selecting the baseline's Pods once the
#: original Service selects the routers.
ROUTER_COPY_SUFFIX = "-sandboxmesh-baseline"


def routed_service(name: str) -> str:
    """The Service whose traffic a fork of Service `name` takes over (see ROUTER_COPY_SUFFIX)."""
    if name.endswith(ROUTER_COPY_SUFFIX) and len(name) > len(ROUTER_COPY_SUFFIX):
        return name[: -len(ROUTER_COPY_SUFFIX)]
    return name
