"""The demo app: one small JSON service per Deployment, saying which version served each hop.

Configured by its environment, as a container is:

- DEMO_SERVICE: its name; DEMO_CALLS: the Services it calls on each request, in order
  (comma-separated), each reached through its Service link `{SVC}_SERVICE_HOST`/`_PORT`;
- DEMO_MESSAGE: shown in its hop when set (the demo's sandbox sets one on its fork);
- SANDBOXMESH_SANDBOX_NAME: set by the operator on forks; the hop's version, `baseline`
  without it; HOSTNAME: the Pod; PORT: where to listen (8080 by default); LISTEN_HOST: the
  address (127.0.0.1 by default, for runs on this host; its image sets 0.0.0.0).

`GET /healthz` answers 200 and calls nothing (readiness). Any other GET answers
`{"service", "version", "pod", "hops": [...]}`, where `hops` holds this service's hop then
those of every service it called, so one response shows the route the request took. The
routing headers (baggage, x-sandboxmesh-routing-key, W3C trace context) are copied from the
inbound request to the outbound ones: that is all an application does for routing. A failed
call answers 502 `{code, message, details}`.

Standard library only: every Pod of the demo starts one of these, so it must start fast.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROPAGATED_HEADERS = ("baggage", "x-sandboxmesh-routing-key", "traceparent", "tracestate")
CALL_TIMEOUT_SECONDS = 10.0
DRAIN_SECONDS = 2.0


#: Headers whose repeated fields are one comma-separated list (W3C Baggage and Trace Context,
#: as RFC 9110 §5.3 allows): several are joined, so that no member is lost at the hop.
LIST_HEADERS = frozenset({"baggage", "tracestate"})


def propagated(inbound: Message) -> dict[str, str]:
    """The routing and trace headers to send on, from a request's headers."""
    outbound = {}
    for name in PROPAGATED_HEADERS:
        values = inbound.get_all(name) or []
        if values:
            outbound[name] = ",".join(values) if name in LIST_HEADERS else values[0]
    return outbound


class DownstreamFailed(Exception):
    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service


def link_env_name(service: str) -> str:
    return service.upper().replace("-", "_")


class Connections(threading.local):
    """Keep-alive connections of one request thread, by Service: a demo under load would
    otherwise leave a TIME_WAIT socket behind every call."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, int], http.client.HTTPConnection] = {}

    def get(self, host: str, port: int, path: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """GET, on a kept connection when there is one; a kept connection the other side
        closed meanwhile is replaced and the GET (idempotent) sent again, once."""
        for attempt in (1, 2):
            connection = self.open.get((host, port))
            reused = connection is not None
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=CALL_TIMEOUT_SECONDS)
                self.open[(host, port)] = connection
            try:
                connection.request("GET", path, headers=dict(headers))
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                del self.open[(host, port)]
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")


CONNECTIONS = Connections()


def call(service: str, path: str, headers: Mapping[str, str], env: Mapping[str, str]) -> Any:
    """GET `path` from Service `service` through its Service link, with `headers`."""
    prefix = link_env_name(service)
    host, port = env.get(f"{prefix}_SERVICE_HOST"), env.get(f"{prefix}_SERVICE_PORT")
    if not host or not port:
        raise DownstreamFailed(service, f"no Service link for {service} ({prefix}_SERVICE_HOST)")
    try:
        status, body = CONNECTIONS.get(host, int(port), path, headers)
    except (http.client.HTTPException, OSError) as error:
        raise DownstreamFailed(service, f"calling {service} failed: {error!r}") from error
    if status != 200:
        raise DownstreamFailed(service, f"{service} answered {status}: {body[:200]!r}")
    try:
        return json.loads(body)
    except ValueError as error:
        raise DownstreamFailed(service, f"{service} answered no JSON: {body[:200]!r}") from error


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        with self.server.in_flight():
            if self.path == "/healthz":
                self._answer(200, {"status": "ok"})
                return
            env = self.server.env
            hop = {
                "service": env.get("DEMO_SERVICE", "app"),
                "version": env.get("SANDBOXMESH_SANDBOX_NAME") or "baseline",
                "pod": env.get("HOSTNAME", ""),
            }
            if env.get("DEMO_MESSAGE"):
                hop["message"] = env["DEMO_MESSAGE"]
            outbound = propagated(self.headers)
            hops = [hop]
            for service in filter(None, env.get("DEMO_CALLS", "").split(",")):
                try:
                    hops.extend(call(service.strip(), self.path, outbound, env)["hops"])
                except (DownstreamFailed, KeyError, TypeError) as error:
                    self._answer(
                        502,
                        {
                            "code": "downstream_failed",
                            "message": str(error),
                            "details": {"service": service, "hops": hops},
                        },
                    )
                    return
            self._answer(200, {**hop, "hops": hops})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the Pod's log


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, env: Mapping[str, str]) -> None:
        super().__init__((env.get("LISTEN_HOST", "127.0.0.1"), port), DemoHandler)
        self.env = dict(env)
        self._active = 0
        self._lock = threading.Condition()

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request being answered while the block runs."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def drain(self, timeout: float) -> None:
        """Wait until no request is being answered, at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)


def main() -> None:
    env = dict(os.environ)
    server = DemoServer(int(env.get("PORT", "8080")), env)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(f"{env.get('DEMO_SERVICE', 'app')} listening on port {server.server_address[1]}")
    stop.wait()
    # Stop accepting, let the requests in progress finish, then go.
    server.shutdown()
    server.drain(DRAIN_SECONDS)
    server.server_close()


if __name__ == "__main__":
    main()
