"""What the real node needs of this host, and everything it changes there, undone.

`missing()` says in one line what keeps this host from running containers. The node's
changes to the host (a bridge, sysctls, iptables chains, cgroups, mounts, network namespaces,
processes) are recorded in one host-wide file, `/run/sandboxmesh/node.json`, so that `down`
(or the next `up`, after a killed run) finds and removes every one of them (`sweep`, walking
footprint.py's kinds in order; `leftovers` says what is still there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sandboxmesh.dev.cluster.node import footprint
from sandboxmesh.dev.cluster.node.configs import BRIDGE, CNI_BIN_DIR, NODE_IP, NODE_PREFIX

log = logging.getLogger(__name__)

HOST_STATE = Path("/run/sandboxmesh/node.json")
#: The node's sockets and containerd's state: short paths (a Unix socket's is at most 107
#: bytes, and a work directory under pytest's tmp is longer), on tmpfs, one node per host.
RUN_DIR = Path("/run/sandboxmesh/node")
#: The kubelet's root (NodeLayout.lib).
LIB_DIR = Path("/var/lib/sandboxmesh/node")
SHIM_SOCKETS = Path("/run/containerd/s")
#: Sysctls that the node or its components (kubelet, kube-proxy, the CNI bridge) may set; their
#: values before `up` are restored by `down`.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.conf.all.route_localnet",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
#: What the node runs from Debian's packages (containerd, runc, containernetworking-plugins,
#: iptables, iproute2).
HOST_COMMANDS = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "ip")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")


class HostUnfit(RuntimeError):
    """This host cannot run the real node; the message says what is missing, in one line."""


class NodeAlreadyUp(RuntimeError):
    """Another cluster's real node runs on this host (one node per host)."""


@dataclass
class HostRecord:
    """The node's footprint on the host, written before the first change is made."""

    workdir: str
    sysctls: dict[str, str] = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)

    def save(self) -> None:
        HOST_STATE.parent.mkdir(parents=True, exist_ok=True)
        HOST_STATE.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls) -> HostRecord | None:
        try:
            return cls(**json.loads(HOST_STATE.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            log.warning("ignoring an unreadable %s", HOST_STATE)
            return None


def missing() -> list[str]:
    """What this host lacks for the real node, each item a few words; empty when fit."""
    lacks = []
    if os.geteuid() != 0:
        lacks.append("root (the node changes the host's network and cgroups)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        lacks.append("the overlay filesystem (containerd's snapshotter)")
    if (
        not (footprint.CGROUP_ROOT / "memory").is_dir()
        and not (footprint.CGROUP_ROOT / "cgroup.controllers").exists()
    ):
        lacks.append(f"cgroups (no memory controller under {footprint.CGROUP_ROOT})")
    commands = [name for name in HOST_COMMANDS if shutil.which(name) is None]
    plugins = [name for name in CNI_PLUGINS if not os.access(CNI_BIN_DIR / name, os.X_OK)]
    if commands:
        lacks.append("commands " + ", ".join(commands))
    if plugins:
        lacks.append(f"CNI plugins {', '.join(plugins)} in {CNI_BIN_DIR}")
    return lacks


def check_fit() -> None:
    lacks = missing()
    if lacks:
        raise HostUnfit(
            "this host cannot run the real node: no "
            + "; no ".join(lacks)
            + " (install Debian's containerd runc containernetworking-plugins iptables iproute2"
            " as root, or use --kwok-only)"
        )


def claim(workdir: Path) -> HostRecord:
    """Take the host for a node in `workdir`: clear what a dead node left, refuse a live one."""
    previous = HostRecord.load()
    if previous is not None:
        if previous.workdir != str(workdir) and any(
            footprint.alive(pid) and previous.workdir in footprint.cmdline(pid)
            for pid in previous.pids
        ):
            raise NodeAlreadyUp(
                f"a real node is already up on this host (cluster in {previous.workdir}); "
                "one per host: stop it first with `sandboxmesh dev cluster down`"
            )
        left = sweep(previous)
        if left:
            log.warning("cleared what a node that was not stopped left: %s", ", ".join(left))
    elif footprint.bridge_exists():
        # A node that predates the record, or whose record /run lost at a reboot.
        sweep(HostRecord(workdir=str(workdir)))
    record = HostRecord(workdir=str(workdir), sysctls=_read_sysctls())
    record.save()
    return record


def prepare(service_cidr: str) -> None:
    """The node's cgroup root and network: its bridge carrying its address and the route to
    the Service range, forwarding on, bridged traffic through iptables (kube-proxy's rules
    must see Pod-to-Service packets between two Pods)."""
    _make_cgroup_root()
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", f"{NODE_IP}/{NODE_PREFIX}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    # A ClusterIP that kube-proxy has not programmed yet (a new Service, or between its
    # filter and nat tables' updates) is not translated: its packets took the machine's
    # default route, off the machine, where something answered (seen here: a proxy's 404,
    # kept by keep-alive clients and routers after the Service was ready). From Pods they are
    # refused at once (a router retries a refused connect: a hang until its connect timeout
    # would hold the request); from this host they go to the bridge and fail there. Packets
    # kube-proxy translated are routed again after DNAT, so neither touches them. The route
    # goes with the bridge; the rule is removed by `sweep`.
    _run("ip", "route", "add", service_cidr, "dev", BRIDGE, "src", NODE_IP)
    _run("ip", "rule", "add", *_service_rule(service_cidr))
    if not Path("/proc/sys/net/bridge").exists():
        subprocess.run(["modprobe", "br_netfilter"], check=False, capture_output=True)
    _write_sysctl("net.ipv4.ip_forward", "1")
    if Path("/proc/sys/net/bridge").exists():
        _write_sysctl("net.bridge.bridge-nf-call-iptables", "1")


def _service_rule(service_cidr: str) -> tuple[str, ...]:
    return ("pref", str(footprint.SERVICE_RULE_PREF), "iif", BRIDGE, "to", service_cidr, "prohibit")


def _make_cgroup_root() -> None:
    # The kubelet's cgroupRoot must exist in every hierarchy it uses (cgroup v1 here).
    for controller in footprint.CGROUP_ROOT.iterdir():
        if not (controller / "cgroup.procs").exists():
            continue  # not a hierarchy (a symlink such as cpu,cpuacct, or a file)
        top = controller / footprint.CGROUP_NAME
        top.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            # A new cpuset has no CPUs and no memory nodes until given its parent's.
            if (top / knob).exists() and not (top / knob).read_text().strip():
                (top / knob).write_text((controller / knob).read_text())


def sweep(record: HostRecord) -> list[str]:
    """Remove every trace of the node recorded in `record`; returns what was found left.

    Safe to run on a clean host and to run twice. Order matters: processes first (nothing may
    recreate what follows), then mounts, namespaces, cgroups, rules, the bridge, sysctls."""
    found: list[str] = []
    roots = (record.workdir, str(RUN_DIR), str(LIB_DIR))
    killed = footprint.kill_processes(roots, record.pids)
    if killed:
        found.append(f"{killed} processes")
    unmounted = footprint.unmount_under(roots)
    if unmounted:
        found.append(f"{unmounted} mounts")
    for directory in (RUN_DIR, LIB_DIR):
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            directory.parent.rmdir()
    namespaces = footprint.delete_pod_namespaces()
    if namespaces:
        found.append(f"{namespaces} network namespaces")
    cgroups = footprint.remove_cgroups()
    if cgroups:
        found.append(f"{cgroups} cgroups")
    chains = footprint.delete_chains()
    if chains:
        found.append(f"{chains} iptables chains")
    if footprint.bridge_exists():
        _run("ip", "link", "del", BRIDGE)
        found.append(f"bridge {BRIDGE}")
    rules = footprint.delete_service_rules()
    if rules:
        found.append(f"{rules} routing rules")
    for name, value in record.sysctls.items():
        with contextlib.suppress(OSError):
            _write_sysctl(name, value)
    # containerd 1.6 puts its shims' sockets in /run/containerd/s whatever its state dir.
    for directory in (SHIM_SOCKETS, SHIM_SOCKETS.parent):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty: a containerd of the host's own keeps it
    HOST_STATE.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        HOST_STATE.parent.rmdir()
    return found


def leftovers(workdir: str) -> list[str]:
    """What of a node is still on the host (for tests and `down`'s report): empty when clean."""
    left = []
    if footprint.bridge_exists():
        left.append(f"bridge {BRIDGE}")
    roots = (workdir, str(RUN_DIR), str(LIB_DIR))
    left += [f"process {pid}" for pid in footprint.node_pids(roots, [])]
    left += [f"mount {m}" for m in footprint.mounts_under(roots)]
    left += [str(d) for d in (RUN_DIR, LIB_DIR, LIB_DIR.parent) if d.exists()]
    left += [f"netns {n}" for n in footprint.pod_namespaces()]
    left += [f"cgroup {c}" for c in footprint.cgroup_dirs()]
    left += [f"chain {table}/{chain}" for table, chain in footprint.our_chains()]
    left += [f"rule {rule}" for rule in footprint.service_rules()]
    if HOST_STATE.exists():
        left.append(str(HOST_STATE))
    if SHIM_SOCKETS.is_dir() and not any(SHIM_SOCKETS.iterdir()):
        left.append(str(SHIM_SOCKETS))  # ours to remove only when empty
    return left


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise HostUnfit(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def _write_sysctl(name: str, value: str) -> None:
    _sysctl_path(name).write_text(value + "\n")
