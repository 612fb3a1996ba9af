"""The demo's in-cluster components, run as processes of their own: the operator and the agent.

Each is `python -m sandboxmesh operator|agent`, in a session of its own (so a Ctrl-C in the
terminal reaches the demo, which stops them in order), its log in the demo's directory, its
probe server on a free local port; it counts as started once `/readyz` answers 200.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


class ComponentFailed(RuntimeError):
    """A component exited or did not become ready; the message names its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Component:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    probe_port: int

    def alive(self) -> bool:
        return self.popen.poll() is None

    def last_log_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ComponentFailed(
                    f"the {self.name} exited with {self.popen.returncode} (see {self.log}): "
                    f"{self.last_log_line()}"
                )
            try:
                url = f"http://127.0.0.1:{self.probe_port}/readyz"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ComponentFailed(
                    f"the {self.name} was not ready within {timeout:g}s (see {self.log})"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self.popen.wait()


def start(name: str, args: list[str], log: Path) -> Component:
    """Start `python -m sandboxmesh ARGS --probe-port=P` with its output in `log`."""
    port = free_port()
    with log.open("wb") as output:
        popen = subprocess.Popen(
            [sys.executable, "-m", "sandboxmesh", *args, f"--probe-port={port}",
             "--probe-host=127.0.0.1", "--log-format=text"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )  # fmt: skip
    return Component(name, popen, log, port)


def operator(kubeconfig: Path, namespace: str, lease_namespace: str, log: Path) -> Component:
    """The operator, forking only in `namespace`."""
    return start(
        "operator",
        ["operator", f"--kubeconfig={kubeconfig}", f"--namespace={namespace}",
         f"--lease-namespace={lease_namespace}", "--lease-duration=5"],
        log,
    )  # fmt: skip


def agent(url: str, token_file: Path, kubeconfig: Path, log: Path) -> Component:
    """The agent, with short long-polls: a stopping control plane waits for the poll in
    flight to end, even when the agent that sent it has gone."""
    return start(
        "agent",
        ["agent", f"--url={url}", f"--token-file={token_file}", f"--kubeconfig={kubeconfig}",
         "--poll-wait=5"],
        log,
    )  # fmt: skip
