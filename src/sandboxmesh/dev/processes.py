"""The development wing's one process supervisor: start a child process, wait until it is
ready, stop it.

Every tool of the wing that runs a program beside it goes through `ManagedProcess` (the local
cluster's and the real node's components, a local Envoy, the demo's control plane; the tests'
processes too) and waits for it with `wait_until_ready`. A child runs in a session of its
own with its output in a log file, optionally dies with its starter, and is stopped as a
group (SIGTERM, then SIGKILL at a deadline); a wait watches the children it depends on, so
one that exits ends the wait at once with the end of its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx


class ProcessFailed(RuntimeError):
    """A child process exited early; the message carries the end of its log."""


class NotReadyInTime(RuntimeError):
    """What a child process was to do was not done by the deadline; the message says what, and
    carries the end of the watched processes' logs."""


@dataclass
class ManagedProcess:
    """One child process: `start`, `check_alive`, `stop`; a context manager that stops it."""

    name: str
    argv: list[str]
    log_path: Path
    #: SIGKILL it when the thread that started it ends, even by SIGKILL (Linux only); off for
    #: processes meant to outlive their starter (`dev cluster up`), or started from a thread
    #: that may end before them.
    die_with_parent: bool = True
    #: The environment; the starter's when None.
    env: Mapping[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A session of its own: Ctrl-C in the caller's terminal doesn't reach it, and
            # stopping the process group also stops anything it spawned.
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if self.env is None else dict(self.env),
                start_new_session=True,
                preexec_fn=terminate_with_parent if self.die_with_parent else None,
            )
        return self

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

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
        """SIGTERM its process group; SIGKILL whatever is left after `timeout` seconds."""
        if self.popen is None:
            return
        terminate_group(self.popen.pid, timeout)
        # Reap it so no zombie stays in the process table.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1.0)

    def kill(self) -> None:
        """SIGKILL its process group: no clean-up at all, as when a machine dies."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


#: What a readiness check may raise while its server is not up yet: "not yet", not a failure.
NOT_YET: tuple[type[BaseException], ...] = (OSError, httpx.HTTPError)


def wait_until_ready(
    what: str,
    ready: Callable[[], bool],
    *,
    deadline: float,
    watched: Sequence[ManagedProcess] = (),
    not_yet: tuple[type[BaseException], ...] = NOT_YET,
    interval: float = 0.1,
    timeout_error: type[Exception] = NotReadyInTime,
) -> None:
    """Call `ready` until it returns true; `deadline` is a `time.monotonic()` value.

    A watched process that exits raises its `ProcessFailed` at once; an error of `not_yet`
    from `ready` counts as not ready; at the deadline `timeout_error` is raised, naming
    `what` and carrying the end of each watched process's log.
    """
    while True:
        for process in watched:
            process.check_alive()
        try:
            if ready():
                return
        except not_yet:
            pass
        if time.monotonic() > deadline:
            tails = "".join(f"\n--- {p.name}\n{p.log_tail()}" for p in watched)
            raise timeout_error(f"timed out waiting for {what}{tails}")
        time.sleep(interval)


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


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, below the kernel's ephemeral range.

    A port the kernel hands out for bind(0) comes from the range it also gives every outgoing
    connection: between this call and the server's own bind, a client's connection may take
    it (seen under load: kube-scheduler's "bind: address already in use"). Below that range,
    only a server binding that very port can; from 10000 up, to stay clear of well-known
    ports, and under 30000, Kubernetes' NodePort range."""
    low = min(_ephemeral_range()[0], 30000)
    for _ in range(200 if low - 10000 >= 1000 else 0):
        port = random.randint(10000, low - 1)  # noqa: S311 - spread, not a secret
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # no room below the range: let the kernel pick
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
