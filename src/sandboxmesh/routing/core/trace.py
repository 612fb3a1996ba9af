"""Route traces: what each router decided for one traced request, and why.

A traced request carries a W3C `traceparent` and, in `tracestate`, the member `sandboxmesh`
(`TRACE_STATE_MEMBER`); routers log only such requests (an access-log filter on that member,
so untraced traffic costs one header check), over gRPC, to the route server. Each log entry
becomes a `Hop`: the Service whose router saw the request, the decision (the baseline, or
the sandbox whose fork got it) and the routing key the request carried there. Trace context
rather than baggage marks the request so that a hop whose caller dropped `baggage` is still
logged: that is the hop the trace must show, with the key missing.

Why a hop went to the baseline is worked out here, from the route table, not by the router:
the router knows only the keys of this Service's forks.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sandboxmesh.routing.core import matching
from sandboxmesh.routing.core.table import RouteTable, ServiceRef

#: The `tracestate` member (vendor key) that asks the routers to log a request.
TRACE_STATE_MEMBER = "sandboxmesh"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
#: An access-log filter's regex over `tracestate`: the member present, whatever its value.
TRACESTATE_PATTERN = rf"(?:.*,)?[ \t]*{TRACE_STATE_MEMBER}=[^,]*(?:,.*)?"
#: The name every fork route's Envoy name starts with is its sandbox's; the rest is this.
BASELINE_ROUTE = "baseline"
BASELINE = "baseline"

_TRACEPARENT = re.compile(r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


class Reason:
    """Why a hop went where it went (the words `route trace` prints)."""

    KEY = "the request's key is this sandbox's"
    NO_KEY = "the request carried no routing key"
    NOT_PROPAGATED = "no routing key arrived: {caller} did not propagate baggage"
    UNKNOWN_KEY = "no sandbox has the key {key}"
    NOT_FORKED = "the key is sandbox {sandbox}'s, which does not fork this Service"
    NOT_READY = "the key is sandbox {sandbox}'s, whose fork of this Service is not ready"
    GROUP_KEY = "the request's key is route group {group}'s, and this sandbox its member here"
    GROUP_CONFLICT = (
        "the key is route group {group}'s, whose members {sandboxes} each fork this Service: "
        "a conflict, so no fork gets it"
    )
    GROUP_NOT_READY = (
        "the key is route group {group}'s, whose member {sandbox}'s fork of this Service is "
        "not ready"
    )
    GROUP_NOT_FORKED = "the key is route group {group}'s, none of whose members forks this Service"
    PREVIEW = "the preview host is sandbox {sandbox}'s: the gateway set its key"
    PREVIEW_GROUP = "the preview host is route group {group}'s: the gateway set its key"
    PREVIEW_UNKNOWN = "the host names no preview: the gateway answered 404"
    PREVIEW_REFUSED = "the preview of {sandbox} asked for a sign-in: the gateway answered {code}"


#: What a gateway hop decided when it forwarded nothing.
NONE = "none"


def gateway_decision(route_name: str, response_code: int) -> tuple[str, str]:
    """(decision, reason) of a preview gateway's hop (route names: `sandbox|host`, then
    `|group` for a route group's host; `unknown` for a host that names no preview)."""
    owner, _, rest = route_name.partition("|")
    if not rest:
        return NONE, Reason.PREVIEW_UNKNOWN
    if response_code in (302, 401, 403, 503):
        return NONE, Reason.PREVIEW_REFUSED.format(sandbox=owner, code=response_code)
    if rest.endswith("|group"):
        return owner, Reason.PREVIEW_GROUP.format(group=owner)
    return owner, Reason.PREVIEW.format(sandbox=owner)


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a `traceparent` value (None when it is not one: W3C's all-zero id
    and version ff are invalid)."""
    found = _TRACEPARENT.match(traceparent or "")
    if found is None or found.group(1) == "ff" or set(found.group(2)) == {"0"}:
        return None
    return found.group(2)


def traced(tracestate: str | None) -> bool:
    return re.fullmatch(TRACESTATE_PATTERN, tracestate or "") is not None


_BAGGAGE_KEY = re.compile(
    rf"(?:^|,)[ \t]*{re.escape(matching.BAGGAGE_MEMBER)}[ \t]*=[ \t]*([^;, \t]*)"
)


#: At most this much of a carried key is kept and shown: a real key is 10-16 characters, and
#: a header of tens of kilobytes must not become as many bytes per hop in the buffer.
KEY_SHOWN_MAX = 64


def carried_key(headers: Mapping[str, str], keys: matching.KeyHeaders) -> str | None:
    """The routing key a request carried, as its headers read (exact headers first, as the
    routes match them), cut to KEY_SHOWN_MAX; None when it carried none."""
    value = ""
    for name in keys.exact_headers:
        value = headers.get(name, "").strip(" \t")
        if value:
            break
    else:
        found = _BAGGAGE_KEY.search(headers.get(keys.baggage_header, ""))
        value = found.group(1) if found else ""
    return value[:KEY_SHOWN_MAX] or None


@dataclass(frozen=True)
class Hop:
    trace_id: str
    #: When the router received the request (seconds since the epoch, as Envoy logged it).
    at: float
    #: The Service whose router decided, and which router (its Envoy node id).
    service: ServiceRef
    router: str
    #: `baseline`, or the name of the sandbox whose fork served the request.
    decision: str
    reason: str
    key: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "traceId": self.trace_id,
            "at": self.at,
            "service": f"{self.service.namespace}/{self.service.name}",
            "router": self.router,
            "decision": self.decision,
            "reason": self.reason,
            "key": self.key,
        }


def decide(
    route_name: str, key: str | None, service: ServiceRef, table: RouteTable
) -> tuple[str, str]:
    """(decision, reason) of a hop that took the Envoy route `route_name` with `key`."""
    if route_name and route_name != BASELINE_ROUTE:
        sandbox, _, rest = route_name.partition("|")
        group = rest.partition("|")[2]
        return sandbox, Reason.GROUP_KEY.format(group=group) if group else Reason.KEY
    if key is None:
        return BASELINE, Reason.NO_KEY
    for conflict in table.group_conflicts:
        if conflict.key == key and service in conflict.services:
            sandboxes = " and ".join(conflict.sandboxes)
            return BASELINE, Reason.GROUP_CONFLICT.format(group=conflict.group, sandboxes=sandboxes)
    for route in table.pending_for(service):
        if route.key == key and route.group:
            return BASELINE, Reason.GROUP_NOT_READY.format(group=route.group, sandbox=route.sandbox)
        if route.key == key:
            return BASELINE, Reason.NOT_READY.format(sandbox=route.sandbox)
    for routes in (*table.routes.values(), *table.pending.values()):
        for route in routes:
            if route.key == key and route.group:
                return BASELINE, Reason.GROUP_NOT_FORKED.format(group=route.group)
            if route.key == key:
                return BASELINE, Reason.NOT_FORKED.format(sandbox=route.sandbox)
    return BASELINE, Reason.UNKNOWN_KEY.format(key=key)


def in_order(hops: list[Hop]) -> list[Hop]:
    """A trace's hops in the order the request passed them, each hop that lost the key an
    earlier one had saying so (the caller in front of it is the previous hop's Service)."""
    ordered = sorted(hops, key=lambda hop: hop.at)
    out: list[Hop] = []
    had_key = False
    for hop in ordered:
        if hop.key is None and had_key and out and hop.reason == Reason.NO_KEY:
            caller = out[-1].service
            hop = replace(
                hop, reason=Reason.NOT_PROPAGATED.format(caller=f"{caller.namespace}/{caller.name}")
            )
        had_key = had_key or hop.key is not None
        out.append(hop)
    return out


class TraceBuffer:
    """The hops of the most recent traces: at most `max_traces` traces, none older than
    `max_age` seconds, and `max_hops` hops per trace. What does not fit is dropped and
    counted (`dropped`), oldest trace first."""

    def __init__(
        self, *, max_traces: int = 1000, max_age: float = 600.0, max_hops: int = 64
    ) -> None:
        self.max_traces, self.max_age, self.max_hops = max_traces, max_age, max_hops
        self._traces: OrderedDict[str, tuple[float, list[Hop]]] = OrderedDict()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._traces)

    def add(self, hop: Hop, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._expire(now)
        entry = self._traces.get(hop.trace_id)
        if entry is None:
            while len(self._traces) >= self.max_traces:
                _, (_, evicted) = self._traces.popitem(last=False)
                self.dropped += len(evicted)
            entry = self._traces[hop.trace_id] = (now, [])
        if len(entry[1]) >= self.max_hops:
            self.dropped += 1
            return
        entry[1].append(hop)

    def get(self, trace_id: str, *, now: float | None = None) -> list[Hop]:
        self._expire(time.time() if now is None else now)
        entry = self._traces.get(trace_id)
        return in_order(entry[1]) if entry else []

    def _expire(self, now: float) -> None:
        while self._traces:
            first, (started, _) = next(iter(self._traces.items()))
            if now - started <= self.max_age:
                return
            del self._traces[first]
