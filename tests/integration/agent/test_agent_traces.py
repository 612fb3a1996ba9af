"""The agent relays route traces: the control plane asks, the agent reads a real route
server's HTTP API and posts the hops back; the control plane never connects to either."""

from __future__ import annotations

import secrets
import time

import pytest
from tests.integration.agent.conftest import AgentRunner, ControlPlane
from tests.support.eventually import eventually

from sandboxmesh.client import endpoints
from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.routing.core.trace import Hop, Reason
from sandboxmesh.routing.server import RouteServerSettings, RouteServerThread
from sandboxmesh.spec.api import TracePublic

pytestmark = pytest.mark.cluster
FORKS = [{"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"}}]


def _hop(trace_id: str, service: str, at: float, key: str | None, decision: str) -> Hop:
    reason = Reason.KEY if decision != "baseline" else Reason.NO_KEY
    return Hop(
        trace_id, at, ServiceRef("shop", service), f"{service}-router", decision, reason, key
    )


def _answered(plane: ControlPlane, name: str, trace_id: str) -> TracePublic | None:
    trace = plane.client.send(endpoints.get_trace(name, trace_id))
    return trace if trace.state != "pending" else None


def test_a_requested_trace_comes_back_with_the_route_servers_hops(
    control_plane: ControlPlane, agents: AgentRunner
) -> None:
    with RouteServerThread(RouteServerSettings()) as routes:
        url = f"http://127.0.0.1:{routes.http_port}"
        agents.start(f"--token-file={agents.token_file}", f"--route-server-url={url}")
        name = f"t-{secrets.token_hex(4)}"
        key = control_plane.apply(name, FORKS).routing_key
        trace_id = secrets.token_hex(16)
        asked = control_plane.client.send(endpoints.request_trace(name, trace_id))
        assert asked.state == "pending"

        # The routers log the request a moment later, hop by hop, as a real request would.
        now = time.time()
        hops = [
            _hop(trace_id, "frontend", now, key, "baseline"),
            _hop(trace_id, "checkout", now + 0.01, key, name),
            _hop(trace_id, "payments", now + 0.02, None, "baseline"),
        ]

        def log(hop: Hop) -> None:
            routes.read(lambda server: server.traces.add(hop))

        time.sleep(0.5)
        log(hops[0])
        time.sleep(0.2)
        log(hops[1])
        log(hops[2])

        trace = eventually(
            lambda: _answered(control_plane, name, trace_id), timeout=15, what="the answer"
        )
        assert trace.state == "answered"
        assert [(h.service, h.decision, h.key) for h in trace.hops] == [
            ("shop/frontend", "baseline", key),
            ("shop/checkout", name, key),
            ("shop/payments", "baseline", None),
        ]
        # The route server worked out that payments lost the key checkout had.
        assert trace.hops[2].reason == Reason.NOT_PROPAGATED.format(caller="shop/checkout")

        # A trace no router reported: answered, empty, within the relay's 10 s.
        silent = secrets.token_hex(16)
        control_plane.client.send(endpoints.request_trace(name, silent))
        empty = eventually(
            lambda: _answered(control_plane, name, silent), timeout=20, what="the empty answer"
        )
        assert (empty.state, empty.hops) == ("answered", [])


def test_an_agent_without_a_route_server_does_not_ask(
    control_plane: ControlPlane, agents: AgentRunner
) -> None:
    agents.start()
    name = f"t-{secrets.token_hex(4)}"
    control_plane.apply(name, FORKS)
    trace_id = secrets.token_hex(16)
    control_plane.client.send(endpoints.request_trace(name, trace_id))
    time.sleep(3)
    assert control_plane.client.send(endpoints.get_trace(name, trace_id)).state == "pending"
