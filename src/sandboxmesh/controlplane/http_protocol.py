"""uvicorn's HTTP protocol (httptools) with a deadline and a size limit on request headers.

uvicorn bounds an idle keep-alive connection and (with our BodyLimit middleware) a body that
trickles in, but not headers: a connection that opens and sends nothing, or sends its headers
a byte at a time, is held for ever (slowloris: 120 such connections held a server 45 s and
more), and httptools takes megabytes of them. Here every request's headers must be complete
within `HEADER_TIMEOUT_ENV` seconds of its first byte (of the connection, for the first
request), or the server answers 408; and its request line and headers must fit in
`HEADER_BYTES_ENV` bytes, or it answers 431. Either way it then closes the connection.

Both reach the workers of `sandboxmesh server --workers N` through the environment (uvicorn
pickles this class by name into each worker); the command sets them from the settings.

Every close is a lingering one (as nginx's `lingering_close`): the server half-closes, then
reads and drops what the client still sends, for at most `LINGER_SECONDS`. Closing a socket
with unread bytes makes the kernel send a reset, which can destroy the answer before the
client reads it: a client trickling a body in got "connection reset" instead of its 408.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_ENV = "SANDBOXMESH_HTTP__HEADER_TIMEOUT_SECONDS"
HEADER_BYTES_ENV = "SANDBOXMESH_HTTP__MAX_HEADER_BYTES"
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
LINGER_SECONDS = 2.0


class _LingeringTransport:
    """The connection's transport, but `close()` half-closes and lingers (see above)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self.lingering = False
        self._timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        self.lingering = True
        try:
            self._transport.write_eof()  # after what is buffered: the answer goes first
            self._transport.resume_reading()
        except (OSError, RuntimeError, NotImplementedError):
            self._transport.close()
            return
        self._timer = self._loop.call_later(LINGER_SECONDS, self._transport.close)

    def finish(self) -> None:
        """The client closed too, or the connection is gone: close now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeadersTooLarge(Exception):
    """Raised inside the parser's callback: httptools stops parsing and reports an error."""


def _refusal(status: bytes, code: bytes, message: bytes) -> bytes:
    body = b'{"code": "%s", "message": "%s", "details": {}}' % (code, message)
    return (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (status, len(body), body)
    )


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_seconds = float(
            os.environ.get(HEADER_TIMEOUT_ENV) or DEFAULT_HEADER_TIMEOUT_SECONDS
        )
        self._max_header_bytes = int(os.environ.get(HEADER_BYTES_ENV) or DEFAULT_MAX_HEADER_BYTES)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = _LingeringTransport(transport, self.loop)
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:
            return  # what a client sends after the answer: read, and dropped
        super().data_received(data)

    def eof_received(self) -> None:
        if self._lingering.lingering:
            self._lingering.finish()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            self._too_large = True
            raise _HeadersTooLarge()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error 400; the one our limit raised is a 431.
        if not self._too_large:
            super().send_400_response(msg)
            return
        self._disarm_header_deadline()
        self.transport.write(
            _refusal(
                b"431 Request Header Fields Too Large",
                b"headers_too_large",
                b"the request line and headers exceed %d bytes" % self._max_header_bytes,
            )
        )
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self._lingering.finish()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self._header_seconds, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        self.transport.write(
            _refusal(
                b"408 Request Timeout",
                b"request_timeout",
                b"the request headers did not arrive within %g s" % self._header_seconds,
            )
        )
        self.transport.close()
