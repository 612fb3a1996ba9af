"""Load tools for the routing benchmark: a small asyncio HTTP/1.1 backend in its own process,
and raw keep-alive clients with little overhead of their own (latency and throughput)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

# --- the backend: a small asyncio HTTP/1.1 server, one process, one port per identity -------


class _Responder(asyncio.Protocol):
    def __init__(self, body: bytes) -> None:
        self.response = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")  # GET requests: no bodies
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(self.response * count)


def _serve_backends(identities: list[str], ports: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        bound = []
        for identity in identities:
            body = json.dumps({"servedBy": identity}).encode()
            server = await loop.create_server(lambda b=body: _Responder(b), "127.0.0.1", 0)
            bound.append(server.sockets[0].getsockname()[1])
        ports.put(bound)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def backends(identities: list[str]) -> Iterator[dict[str, int]]:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve_backends, args=(identities, ports), daemon=True)
    process.start()
    try:
        yield dict(zip(identities, ports.get(timeout=30), strict=True))
    finally:
        process.terminate()
        process.join()


# --- the client: raw keep-alive HTTP/1.1, little overhead of its own -------------------------


def request_bytes(headers: dict[str, str], authority: str = "bench") -> bytes:
    lines = ["GET /bench HTTP/1.1", f"host: {authority}"] + [
        f"{k}: {v}" for k, v in headers.items()
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Connection:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def get(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return self.file.read(length)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def latency(
    port: int,
    headers: dict[str, str],
    count: int,
    host: str = "127.0.0.1",
    *,
    authority: str = "bench",
) -> dict[str, Any]:
    connection = Connection(port, host)
    request = request_bytes(headers, authority)
    for _ in range(200):  # warm up
        connection.get(request)
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        connection.get(request)
        samples.append((time.perf_counter_ns() - start) / 1000)
    connection.close()
    samples.sort()
    return {
        "p50_us": round(samples[len(samples) // 2], 1),
        "p99_us": round(samples[int(len(samples) * 0.99)], 1),
        "mean_us": round(statistics.fmean(samples), 1),
        "requests": count,
    }


def _load(port: int, request: bytes, connections: int, seconds: float, out: Any, host: str) -> None:
    async def worker(deadline: float) -> int:
        reader, writer = await asyncio.open_connection(host, port)
        done = 0
        while time.monotonic() < deadline:
            writer.write(request)
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            done += 1
        writer.close()
        return done

    async def main() -> int:
        deadline = time.monotonic() + seconds
        return sum(await asyncio.gather(*(worker(deadline) for _ in range(connections))))

    out.put(asyncio.run(main()))


def throughput(
    port: int, headers: dict[str, str], connections: int, seconds: float, host: str = "127.0.0.1"
) -> float:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(
        target=_load, args=(port, request_bytes(headers), connections, seconds, out, host)
    )
    process.start()
    total = out.get(timeout=seconds + 60)
    process.join()
    return round(total / seconds, 1)
