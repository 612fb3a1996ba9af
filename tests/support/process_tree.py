"""What a process left running: its descendants and their listening TCP ports, from /proc."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LISTEN = "0A"


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is parenthesised and may hold spaces: split after its closing one.
    return text.rsplit(")", 1)[-1].split()


def descendants(root: int) -> set[int]:
    """Every process whose chain of parents leads to `root` (not `root` itself)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _listening_inodes() -> dict[int, int]:
    """Socket inode -> port of every listening TCP socket on this machine."""
    inodes: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == LISTEN:
                    inodes[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return inodes


def listening_ports(pids: set[int]) -> set[int]:
    """The TCP ports the processes `pids` listen on."""
    listening = _listening_inodes()
    ports: set[int] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inode = int(target[len("socket:[") : -1])
                        if inode in listening:
                            ports.add(listening[inode])
    return ports


def ports_listened(ports: set[int]) -> set[int]:
    """Which of `ports` some process on this machine listens on now."""
    return ports & set(_listening_inodes().values())
