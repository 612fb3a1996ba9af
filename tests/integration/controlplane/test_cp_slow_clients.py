"""Slow clients against a real `sandboxmesh server` process over real TCP: headers or a body
trickled in get 408, headers too large 431, an idle connection is closed, and connections
beyond the concurrency limit are refused.

Each test paces its client (a byte, then a short wait for an answer): the pacing is the
behaviour under test, not a wait for the server, which every test bounds by a deadline.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from tests.support import databases
from tests.support.controlplane_server import server_process
from tests.support.eventually import eventually

BODY_TIMEOUT_SECONDS = 1
HEADER_TIMEOUT_SECONDS = 1
MAX_HEADER_BYTES = 8192
KEEP_ALIVE_SECONDS = 1
MAX_CONCURRENCY = 4
#: The most any test waits for the server to do something.
DEADLINE_SECONDS = 30

HEADERS = (
    b"PUT /api/v1/sandboxes/pr-1 HTTP/1.1\r\n"
    b"Host: controlplane\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 4096\r\n"
    b"\r\n"
)


def _server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, header_timeout: float
) -> contextlib.AbstractContextManager[str]:
    home = tmp_path_factory.mktemp("slow-clients")
    database = databases.copy_sqlite(sqlite_template, home / "controlplane.db")
    env = {
        "SANDBOXMESH_HTTP__BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
        "SANDBOXMESH_HTTP__HEADER_TIMEOUT_SECONDS": str(header_timeout),
        "SANDBOXMESH_HTTP__MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "SANDBOXMESH_HTTP__KEEP_ALIVE_SECONDS": str(KEEP_ALIVE_SECONDS),
        "SANDBOXMESH_HTTP__MAX_CONCURRENCY": str(MAX_CONCURRENCY),
    }
    return server_process(database, home, env=env)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    with _server(tmp_path_factory, sqlite_template, HEADER_TIMEOUT_SECONDS) as started:
        yield started


@pytest.fixture(scope="module")
def patient_url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    """A server whose header deadline outlasts the test: the concurrency limit is what holds."""
    with _server(tmp_path_factory, sqlite_template, DEADLINE_SECONDS * 2) as started:
        yield started


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=DEADLINE_SECONDS)


def _readable(connection: socket.socket, seconds: float) -> bool:
    return bool(select.select([connection], [], [], seconds)[0])


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (within the deadline)."""
    received = b""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if not _readable(connection, deadline - time.monotonic()):
            break
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open; it sent {received[:300]!r}")


def _one_response(connection: socket.socket) -> bytes:
    """One whole response (its head and the Content-Length of body), the connection kept."""
    received = b""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline and _readable(connection, deadline - time.monotonic()):
        received += connection.recv(65536)
        head, found, body = received.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
             if line.startswith(b"content-length:")),
            0,
        )  # fmt: skip
        if found and len(body) >= length:
            return received
    raise AssertionError(f"no whole response within the deadline: {received[:300]!r}")


def _answered(url: str) -> int:
    return httpx.get(f"{url}/healthz", timeout=5).status_code


def test_a_body_trickled_in_gets_408_and_the_connection_closes(url: str) -> None:
    with _connect(url) as connection:
        connection.sendall(HEADERS + b"{")
        sent = 1
        # One byte every 0.1 s: the 4 KiB body would take seven minutes.
        while not _readable(connection, 0.1):
            connection.sendall(b" ")
            sent += 1
            assert sent < DEADLINE_SECONDS * 10, "no answer while the body trickled in"
        answer = _read_until_closed(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"connection: close" in head.lower()
    error = json.loads(body)
    assert error["code"] == "request_timeout"
    assert error["message"] == f"the request body did not arrive within {BODY_TIMEOUT_SECONDS} s"
    assert sent < 4096


def test_a_client_still_sending_after_its_408_reads_the_answer(url: str) -> None:
    # The client does not look for an answer while it sends: bytes keep arriving after the
    # server has answered. A server that then just closes makes its kernel reset the
    # connection, and the reset can destroy the 408 before the client reads it (seen on CI).
    # The server half-closes, drains and drops what still comes, then closes.
    with _connect(url) as connection:
        connection.sendall(HEADERS + b"{")
        until = time.monotonic() + BODY_TIMEOUT_SECONDS + 1.0
        while time.monotonic() < until:
            connection.sendall(b" ")
            time.sleep(0.02)  # the pacing of a slow client: the behaviour under test
        answer = _read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_a_body_sent_at_once_is_not_held_to_the_deadline(url: str) -> None:
    # The same request with its body: answered on its merits (401, no token), not 408.
    with _connect(url) as connection:
        request = HEADERS.replace(b"4096", b"2").replace(
            b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"
        )
        connection.sendall(request + b"{}")
        head = _read_until_closed(connection).split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 401 "), head


def test_an_idle_connection_is_closed_after_the_keep_alive(url: str) -> None:
    with _connect(url) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: controlplane\r\n\r\n")
        answer = _read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_connections_stuck_in_their_headers_are_bounded_by_the_concurrency_limit(
    patient_url: str,
) -> None:
    url = patient_url
    with ExitStack() as stack:
        stuck = [stack.enter_context(_connect(url)) for _ in range(MAX_CONCURRENCY)]
        for connection in stuck:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: controlplane\r\nX-Slow: ")
        # Beyond the limit the server refuses work instead of taking on more and more.
        eventually(lambda: _answered(url) == 503, timeout=DEADLINE_SECONDS, what="a 503")
    eventually(lambda: _answered(url) == 200, timeout=DEADLINE_SECONDS, what="200 again")


def _refusal(answer: bytes) -> tuple[bytes, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    return head.split(b"\r\n", 1)[0], json.loads(body)


def test_headers_trickled_in_get_408_and_the_connection_closes(url: str) -> None:
    with _connect(url) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: controlplane\r\nX-Slow: ")
        sent = 0
        # One byte of a header every 0.1 s, for ever: the server has to cut it off.
        while not _readable(connection, 0.1):
            connection.sendall(b"a")
            sent += 1
            assert sent < DEADLINE_SECONDS * 10, "no answer while the headers trickled in"
        status, error = _refusal(_read_until_closed(connection))
    assert status.startswith(b"HTTP/1.1 408 "), status
    assert error["code"] == "request_timeout"
    assert error["message"] == (
        f"the request headers did not arrive within {HEADER_TIMEOUT_SECONDS:g} s"
    )


def test_a_connection_that_sends_nothing_is_closed(url: str) -> None:
    with _connect(url) as connection:
        status, _ = _refusal(_read_until_closed(connection))
    assert status.startswith(b"HTTP/1.1 408 "), status


def test_a_second_request_on_a_connection_has_a_deadline_of_its_own(url: str) -> None:
    with _connect(url) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: controlplane\r\n\r\n")
        assert _one_response(connection).startswith(b"HTTP/1.1 200 ")
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
        status, _ = _refusal(_read_until_closed(connection))
    assert status.startswith(b"HTTP/1.1 408 "), status


def test_headers_too_large_get_431(url: str) -> None:
    with _connect(url) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: controlplane\r\nX-Big: "
            + b"a" * MAX_HEADER_BYTES
            + b"\r\n\r\n"
        )
        status, error = _refusal(_read_until_closed(connection))
    assert status.startswith(b"HTTP/1.1 431 "), status
    assert error["code"] == "headers_too_large"
    # Headers within the limit are answered as ever.
    assert httpx.get(f"{url}/healthz", headers={"X-Fits": "a" * 4000}, timeout=5).status_code == 200
