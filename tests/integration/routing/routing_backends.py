"""Local HTTP backends standing in for baseline and fork workloads: each says who it is."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: _Backend
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "servedBy": self.server.identity,
                "path": self.path,
                # What reached the workload of the headers that route (preview gateway tests).
                "baggage": self.headers.get_all("baggage") or [],
                "routingKey": self.headers.get_all("x-sandboxmesh-routing-key") or [],
                "previewToken": self.headers.get_all("x-sandboxmesh-preview-token") or [],
                "headerNames": sorted({name.lower() for name in self.headers}),
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Backend(ThreadingHTTPServer):
    daemon_threads = True
    identity = ""


@contextmanager
def http_backend(identity: str) -> Iterator[int]:
    """Serve on 127.0.0.1 (a free port, yielded) answering `{"servedBy": identity}`."""
    server = _Backend(("127.0.0.1", 0), _Handler)
    server.identity = identity
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
