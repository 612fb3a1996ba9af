"""What the real node needs of this host, and everything it changes there, undone.

`missing()` says in one line what keeps this host from running containers. The node's
changes to the host (a bridge, sysctls, iptables chains, cgroups, mounts, network namespaces,
processes) are recorded in one host-wide file, `/run/sandboxmesh/node.json`, so that `down`
(or the next `up`, after a killed run) finds and removes every one of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path

from sandboxmesh.dev.cluster.node.configs import (
    BRIDGE,
    CNI_BIN_DIR,
    NODE_IP,
    NODE_PREFIX,
    POD_SUBNET,
)

log = logging.getLogger(__name__)

HOST_STATE = Path("/run/sandboxmesh/node.json")
#: The node's sockets and containerd's state: short paths (a Unix socket's is at most 107
#: bytes, and a work directory under pytest's tmp is longer), on tmpfs, one node per host.
RUN_DIR = Path("/run/sandboxmesh/node")
#: The kubelet's root (NodeLayout.lib).
LIB_DIR = Path("/var/lib/sandboxmesh/node")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "sandboxmesh"  # the kubelet's cgroupRoot (configs.kubelet_config)
NETNS_DIR = Path("/run/netns")
#: The priority of the node's one routing rule (`ip rule`): Pods' packets to a ClusterIP that
#: kube-proxy has not translated are refused. Before the main table (32766).
SERVICE_RULE_PREF = 32000
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
#: Chain prefixes of the node's iptables rules: kube-proxy's and the kubelet's (KUBE-) and the
#: CNI plugins' (CNI-).
CHAIN_PREFIXES = ("KUBE-", "CNI-")


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
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        lacks.append(f"cgroups (no memory controller under {CGROUP_ROOT})")
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
            _alive(pid) and previous.workdir in _cmdline(pid) for pid in previous.pids
        ):
            raise NodeAlreadyUp(
                f"a real node is already up on this host (cluster in {previous.workdir}); "
                "one per host: stop it first with `sandboxmesh dev cluster down`"
            )
        left = sweep(previous)
        if left:
            log.warning("cleared what a node that was not stopped left: %s", ", ".join(left))
    elif _bridge_exists():
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
    return ("pref", str(SERVICE_RULE_PREF), "iif", BRIDGE, "to", service_cidr, "prohibit")


def _service_rules() -> list[str]:
    """`ip rule` lines of the node's own (they outlive the bridge they name)."""
    shown = subprocess.run(["ip", "rule", "show"], capture_output=True, text=True).stdout
    return [line for line in shown.splitlines() if line.startswith(f"{SERVICE_RULE_PREF}:")]


def _delete_service_rules() -> int:
    rules = _service_rules()
    for _ in rules:
        subprocess.run(["ip", "rule", "del", "pref", str(SERVICE_RULE_PREF)], capture_output=True)
    return len(rules)


def _make_cgroup_root() -> None:
    # The kubelet's cgroupRoot must exist in every hierarchy it uses (cgroup v1 here).
    for controller in CGROUP_ROOT.iterdir():
        if not (controller / "cgroup.procs").exists():
            continue  # not a hierarchy (a symlink such as cpu,cpuacct, or a file)
        top = controller / CGROUP_NAME
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
    killed = _kill_processes(roots, record.pids)
    if killed:
        found.append(f"{killed} processes")
    unmounted = _unmount_under(roots)
    if unmounted:
        found.append(f"{unmounted} mounts")
    for directory in (RUN_DIR, LIB_DIR):
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            directory.parent.rmdir()
    namespaces = _delete_pod_namespaces()
    if namespaces:
        found.append(f"{namespaces} network namespaces")
    cgroups = _remove_cgroups()
    if cgroups:
        found.append(f"{cgroups} cgroups")
    chains = _delete_chains()
    if chains:
        found.append(f"{chains} iptables chains")
    if _bridge_exists():
        _run("ip", "link", "del", BRIDGE)
        found.append(f"bridge {BRIDGE}")
    rules = _delete_service_rules()
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
    if _bridge_exists():
        left.append(f"bridge {BRIDGE}")
    roots = (workdir, str(RUN_DIR), str(LIB_DIR))
    left += [f"process {pid}" for pid in _node_pids(roots, [])]
    left += [f"mount {m}" for m in _mounts_under(roots)]
    left += [str(d) for d in (RUN_DIR, LIB_DIR, LIB_DIR.parent) if d.exists()]
    left += [f"netns {n}" for n in _pod_namespaces()]
    left += [f"cgroup {c}" for c in _cgroup_dirs()]
    left += [f"chain {table}/{chain}" for table, chain in _our_chains()]
    left += [f"rule {rule}" for rule in _service_rules()]
    if HOST_STATE.exists():
        left.append(str(HOST_STATE))
    if SHIM_SOCKETS.is_dir() and not any(SHIM_SOCKETS.iterdir()):
        left.append(str(SHIM_SOCKETS))  # ours to remove only when empty
    return left


# -- pieces ---------------------------------------------------------------------------------


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


def _bridge_exists() -> bool:
    return Path("/sys/class/net", BRIDGE).exists()


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _cgroup_dirs() -> list[Path]:
    """The node's cgroup directories, deepest first."""
    dirs: list[Path] = []
    for controller in CGROUP_ROOT.iterdir():
        top = controller / CGROUP_NAME
        if top.is_dir():
            dirs += sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            dirs.append(top)
    return dirs


def _names_a_root(pid: int, roots: tuple[str, ...]) -> bool:
    cmdline = _cmdline(pid)
    return any(root.rstrip("/") + "/" in cmdline for root in roots)


def _node_pids(roots: tuple[str, ...], recorded: list[int]) -> set[int]:
    """Processes of the node: those that name its directories (containerd, its shims, the
    kubelet...) and every process in its cgroups (the containers)."""
    pids = {pid for pid in recorded if _names_a_root(pid, roots)}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _names_a_root(int(entry.name), roots):
            pids.add(int(entry.name))
    for directory in _cgroup_dirs():
        with contextlib.suppress(OSError):
            pids.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
    pids.discard(os.getpid())
    return pids


def _kill_processes(roots: tuple[str, ...], recorded: list[int]) -> int:
    pids = _node_pids(roots, recorded)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return len(pids)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _mounts_under(roots: tuple[str, ...]) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == root or point.startswith(root.rstrip("/") + "/") for root in roots):
            mounts.append(point)
    return mounts


def _unmount_under(roots: tuple[str, ...]) -> int:
    count = 0
    # Deepest first; a mount stacked twice on one point is listed twice.
    for point in sorted(_mounts_under(roots), key=lambda p: -len(p)):
        result = subprocess.run(["umount", "-l", point], capture_output=True)
        count += result.returncode == 0
    return count


def _pod_namespaces() -> list[str]:
    """Network namespaces that hold an address of the node's Pod subnet."""
    if not NETNS_DIR.is_dir():
        return []
    subnet = ip_network(POD_SUBNET)
    ours = []
    for entry in NETNS_DIR.iterdir():
        result = subprocess.run(
            ["ip", "-n", entry.name, "-j", "-4", "addr"], capture_output=True, text=True
        )
        if result.returncode != 0:
            if entry.name.startswith("cni-"):
                ours.append(entry.name)  # a namespace whose mount is already gone
            continue
        for link in json.loads(result.stdout or "[]"):
            if any(
                ip_address(a["local"]) in subnet for a in link.get("addr_info", []) if "local" in a
            ):
                ours.append(entry.name)
                break
    return ours


def _delete_pod_namespaces() -> int:
    count = 0
    for name in _pod_namespaces():
        path = NETNS_DIR / name
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        with contextlib.suppress(OSError):
            path.unlink()
            count += 1
    return count


def _remove_cgroups() -> int:
    count = 0
    for directory in _cgroup_dirs():
        with contextlib.suppress(OSError):
            directory.rmdir()
            count += 1
    return count


def _our_chains() -> list[tuple[str, str]]:
    chains = []
    for table in ("filter", "nat", "mangle"):
        result = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
                chains.append((table, line[1:].split()[0]))
    return chains


def _delete_chains() -> int:
    """Rules that jump to the node's chains, then the chains: kube-proxy's, the kubelet's
    canaries and the CNI plugins'. One node per host, so every such chain is the node's."""
    chains = _our_chains()
    for table in {table for table, _ in chains}:
        result = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            # As iptables-save quotes them: kube-proxy's rules carry comments with spaces.
            parts = shlex.split(line)
            if (
                line.startswith("-A ")
                and not parts[1].startswith(CHAIN_PREFIXES)
                and "-j" in parts
                and parts[parts.index("-j") + 1].startswith(CHAIN_PREFIXES)
            ):
                subprocess.run(["iptables", "-t", table, "-D", *parts[1:]], capture_output=True)
    for table, chain in chains:
        subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True)
    for table, chain in chains:
        subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True)
    return len(chains)
