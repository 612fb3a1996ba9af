"""A cluster started by another process (`dev cluster up` in the background): its state file,
and how `dev cluster down` stops it without ever signalling a process that is not ours."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sandboxmesh.dev.cluster.binaries import Binaries
from sandboxmesh.dev.cluster.node import host as node_host
from sandboxmesh.dev.cluster.node.node import COMPONENTS as node_components
from sandboxmesh.dev.cluster.node.node import stop_node
from sandboxmesh.dev.processes import terminate_group

STATE_FILE = "cluster.json"


@dataclass
class ClusterState:
    """What `dev cluster down` needs to find a cluster started by another process."""

    workdir: Path
    kubeconfig: Path
    server: str
    pids: dict[str, int] = field(default_factory=dict)
    real_node: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "workdir": str(self.workdir),
                "kubeconfig": str(self.kubeconfig),
                "server": self.server,
                "pids": self.pids,
                "realNode": self.real_node,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        data = json.loads(text)
        return cls(
            Path(data["workdir"]),
            Path(data["kubeconfig"]),
            data["server"],
            data["pids"],
            bool(data.get("realNode")),
        )


def stop_detached(state: ClusterState) -> list[str]:
    """Stop a cluster that another process started; returns the names of what was stopped."""
    stopped = []
    pids = dict(state.pids)
    if state.real_node:
        node_pids = {
            name: pids.pop(name)
            for name in list(pids)
            if name in node_components and _is_ours(pids[name], state.workdir)
        }
        try:
            binaries: Binaries | None = Binaries.locate()
        except RuntimeError:
            binaries = None
        stop_node(state.workdir, binaries, node_pids)
        stopped += list(node_pids)
    for name, pid in reversed(list(pids.items())):
        if _is_ours(pid, state.workdir):
            terminate_group(pid)
            stopped.append(name)
    if state.real_node:
        # Last: the sweep kills whatever still names the work directory.
        record = node_host.HostRecord.load()
        if record is None or record.workdir == str(state.workdir):
            node_host.sweep(record or node_host.HostRecord(workdir=str(state.workdir)))
    shutil.rmtree(state.workdir, ignore_errors=True)
    return stopped


def cluster_is_running(state: ClusterState) -> bool:
    """Whether every process of a detached cluster is still alive."""
    return bool(state.pids) and all(_is_ours(pid, state.workdir) for pid in state.pids.values())


def _is_ours(pid: int, workdir: Path) -> bool:
    # Never signal a recycled pid: the process must still be one whose arguments name our
    # work directory (every component gets a path under it).
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(workdir) in cmdline
