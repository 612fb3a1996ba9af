"""The demo app's service: versions per hop, header propagation, JSON errors (in process)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from sandboxmesh.dev.demo.app import PROPAGATED_HEADERS, DemoServer


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def demo(**env: str) -> Iterator[str]:
    with serving(DemoServer(0, env)) as port:
        yield f"http://127.0.0.1:{port}"


class Recorder(BaseHTTPRequestHandler):
    """A downstream that records the headers it got and answers as a demo hop; it then
    closes the connection it announced as kept (as a proxy closing an idle one does)."""

    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps({"hops": [{"service": "payments", "version": "pr-7"}]}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def links(service: str, port: int) -> dict[str, str]:
    return {
        f"{service.upper()}_SERVICE_HOST": "127.0.0.1",
        f"{service.upper()}_SERVICE_PORT": str(port),
    }


def test_each_hop_says_which_version_served_it() -> None:
    with (
        demo(DEMO_SERVICE="payments", HOSTNAME="payments-1") as payments,
        demo(
            DEMO_SERVICE="checkout", DEMO_CALLS="payments", HOSTNAME="checkout-sbx-pr-1-x",
            SANDBOXMESH_SANDBOX_NAME="pr-1", DEMO_MESSAGE="new checkout",
            **links("payments", int(payments.rsplit(":", 1)[1])),
        ) as checkout,
    ):  # fmt: skip
        body: dict[str, Any] = httpx.get(f"{checkout}/cart").json()
    assert body["service"] == "checkout"
    assert body["version"] == "pr-1"
    assert body["hops"] == [
        {"service": "checkout", "version": "pr-1", "pod": "checkout-sbx-pr-1-x",
         "message": "new checkout"},
        {"service": "payments", "version": "baseline", "pod": "payments-1"},
    ]  # fmt: skip


def test_routing_headers_are_propagated_and_nothing_else() -> None:
    Recorder.seen = []
    inbound = {
        "baggage": "userId=alice,sandboxmesh-routing-key=abcdefghij12",
        "x-sandboxmesh-routing-key": "abcdefghij12",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=1",
        "authorization": "Bearer secret",
        "cookie": "session=1",
    }
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Recorder)) as port:  # noqa: SIM117
        with demo(DEMO_SERVICE="frontend", DEMO_CALLS="payments", **links("payments", port)) as url:
            body = httpx.get(url, headers=inbound).json()
    assert [hop["version"] for hop in body["hops"]] == ["baseline", "pr-7"]
    (seen,) = Recorder.seen
    assert {k: seen[k] for k in PROPAGATED_HEADERS} == {k: inbound[k] for k in PROPAGATED_HEADERS}
    assert "authorization" not in seen
    assert "cookie" not in seen


def test_a_failed_call_answers_502_with_a_json_error() -> None:
    with demo(DEMO_SERVICE="frontend", DEMO_CALLS="checkout") as url:
        unlinked = httpx.get(url)
    assert unlinked.status_code == 502
    error = unlinked.json()
    assert error["code"] == "downstream_failed"
    assert "CHECKOUT_SERVICE_HOST" in error["message"]
    assert error["details"]["service"] == "checkout"

    closed = links("checkout", 9)  # discard port: nothing listens
    with demo(DEMO_SERVICE="frontend", DEMO_CALLS="checkout", **closed) as url:
        refused = httpx.get(url)
    assert refused.status_code == 502
    assert refused.json()["details"]["hops"][0]["service"] == "frontend"


def test_readiness_calls_nothing() -> None:
    with demo(DEMO_SERVICE="frontend", DEMO_CALLS="checkout") as url:
        response = httpx.get(f"{url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_calls_keep_their_connection_and_replace_one_the_other_side_closed() -> None:
    Recorder.seen = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Recorder)) as port:  # noqa: SIM117
        with demo(DEMO_SERVICE="frontend", DEMO_CALLS="payments", **links("payments", port)) as url:
            with httpx.Client() as client:  # one inbound connection: one request thread
                answers = [client.get(url).status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert len(Recorder.seen) == 3


def test_several_baggage_headers_go_on_as_one_list_with_every_member() -> None:
    """W3C Baggage lets a request carry several `baggage` fields, to be read as one list: a
    routing key in the second is still the request's key at the next hop."""
    Recorder.seen = []
    inbound = [
        ("baggage", "userId=alice"),
        ("baggage", "sandboxmesh-routing-key=abcdefghij12"),
        ("tracestate", "a=1"),
        ("tracestate", "b=2"),
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Recorder)) as port:  # noqa: SIM117
        with demo(DEMO_SERVICE="frontend", DEMO_CALLS="payments", **links("payments", port)) as url:
            httpx.get(url, headers=inbound)
    (seen,) = Recorder.seen
    assert seen["baggage"] == "userId=alice,sandboxmesh-routing-key=abcdefghij12"
    assert seen["tracestate"] == "a=1,b=2"
    assert seen["traceparent"] == inbound[4][1]
