"""Child processes of a local cluster: started in their own session, stopped as a group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class ProcessFailed(RuntimeError):
    """A cluster process exited early; the message carries the end of its log."""


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    #: SIGTERM it when the process that started it dies, even by SIGKILL (Linux only); off
    #: for clusters meant to outlive their starter (`dev cluster up`).
    die_with_parent: bool = True
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            # A session of its own: Ctrl-C in the caller's terminal doesn't reach it, and
            # stopping the process group also stops anything it spawned.
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=terminate_with_parent if self.die_with_parent else None,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            tail = self.log_tail()
            raise ProcessFailed(
                f"{self.name} exited with {self.popen.returncode}: {_last_error(tail)} "
                f"(its log: {self.log_path})\n{tail}"
            )

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        terminate_group(self.popen.pid, timeout)
        # Reap it so no zombie stays in the process table.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1.0)


def _last_error(tail: str) -> str:
    """The line of a log tail that most likely says why (klog's E lines, an error level),
    shortened: the first line of an error message is what a CLI prints."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if (line[:1] in "EF" and line[1:2].isdigit()) or "error" in lowered or "fatal" in lowered:
            return line[:300]
    return lines[-1][:300] if lines else "(its log is empty)"


def terminate_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGKILL when its parent dies (Linux's PDEATHSIG).

    Runs in the child between fork and exec, so a killed test run or demo leaves no
    process behind. SIGKILL, not SIGTERM: every process of the cluster gets it at once, and a
    kube-apiserver told to shut down gracefully while its etcd vanishes waits on requests that
    can no longer finish (seen taking over 30 s on a 2-core CI machine); the data is throwaway.
    The parent is the starting thread: start from a long-lived one."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def terminate_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left at the deadline."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    # Our own child lingers as a zombie until reaped; waitpid reaps it when it has exited.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return not _is_zombie(pgid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
