"""free_port: a port no outgoing connection can take before the server binds it."""

from __future__ import annotations

import random
import socket

import pytest

from sandboxmesh.dev import processes


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    low, _ = processes._ephemeral_range()
    for _ in range(50):
        port = processes.free_port()
        assert 10000 <= port < min(low, 30000)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        # Every candidate is the taken port: the kernel's pick is the answer instead.
        monkeypatch.setattr(random, "randint", lambda low, high: port)
        assert processes.free_port() != port
