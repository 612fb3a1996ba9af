"""The real node's footprint on this host, kind by kind: how to find each kind of change it
makes (its processes, mounts, network namespaces, cgroups, iptables chains, routing rule and
bridge) and how to remove it. `host.sweep` removes them in the order that matters and
`host.leftovers` lists what is left; one node per host, so whatever matches is the node's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from ipaddress import ip_address, ip_network
from pathlib import Path

from sandboxmesh.dev.cluster.node.configs import BRIDGE, POD_SUBNET

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "sandboxmesh"  # the kubelet's cgroupRoot (configs.kubelet_config)
NETNS_DIR = Path("/run/netns")
#: The priority of the node's one routing rule (`ip rule`): Pods' packets to a ClusterIP that
#: kube-proxy has not translated are refused. Before the main table (32766).
SERVICE_RULE_PREF = 32000
#: Chain prefixes of the node's iptables rules: kube-proxy's and the kubelet's (KUBE-) and the
#: CNI plugins' (CNI-).
CHAIN_PREFIXES = ("KUBE-", "CNI-")


def service_rules() -> list[str]:
    """`ip rule` lines of the node's own (they outlive the bridge they name)."""
    shown = subprocess.run(["ip", "rule", "show"], capture_output=True, text=True).stdout
    return [line for line in shown.splitlines() if line.startswith(f"{SERVICE_RULE_PREF}:")]


def delete_service_rules() -> int:
    rules = service_rules()
    for _ in rules:
        subprocess.run(["ip", "rule", "del", "pref", str(SERVICE_RULE_PREF)], capture_output=True)
    return len(rules)


def bridge_exists() -> bool:
    return Path("/sys/class/net", BRIDGE).exists()


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def cgroup_dirs() -> list[Path]:
    """The node's cgroup directories, deepest first."""
    dirs: list[Path] = []
    for controller in CGROUP_ROOT.iterdir():
        top = controller / CGROUP_NAME
        if top.is_dir():
            dirs += sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            dirs.append(top)
    return dirs


def _names_a_root(pid: int, roots: tuple[str, ...]) -> bool:
    command_line = cmdline(pid)
    return any(root.rstrip("/") + "/" in command_line for root in roots)


def node_pids(roots: tuple[str, ...], recorded: list[int]) -> set[int]:
    """Processes of the node: those that name its directories (containerd, its shims, the
    kubelet...) and every process in its cgroups (the containers)."""
    pids = {pid for pid in recorded if _names_a_root(pid, roots)}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _names_a_root(int(entry.name), roots):
            pids.add(int(entry.name))
    for directory in cgroup_dirs():
        with contextlib.suppress(OSError):
            pids.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
    pids.discard(os.getpid())
    return pids


def kill_processes(roots: tuple[str, ...], recorded: list[int]) -> int:
    pids = node_pids(roots, recorded)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return len(pids)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def mounts_under(roots: tuple[str, ...]) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == root or point.startswith(root.rstrip("/") + "/") for root in roots):
            mounts.append(point)
    return mounts


def unmount_under(roots: tuple[str, ...]) -> int:
    count = 0
    # Deepest first; a mount stacked twice on one point is listed twice.
    for point in sorted(mounts_under(roots), key=lambda p: -len(p)):
        result = subprocess.run(["umount", "-l", point], capture_output=True)
        count += result.returncode == 0
    return count


def pod_namespaces() -> list[str]:
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


def delete_pod_namespaces() -> int:
    count = 0
    for name in pod_namespaces():
        path = NETNS_DIR / name
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        with contextlib.suppress(OSError):
            path.unlink()
            count += 1
    return count


def remove_cgroups() -> int:
    count = 0
    for directory in cgroup_dirs():
        with contextlib.suppress(OSError):
            directory.rmdir()
            count += 1
    return count


def our_chains() -> list[tuple[str, str]]:
    chains = []
    for table in ("filter", "nat", "mangle"):
        result = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
                chains.append((table, line[1:].split()[0]))
    return chains


def delete_chains() -> int:
    """Rules that jump to the node's chains, then the chains: kube-proxy's, the kubelet's
    canaries and the CNI plugins'. One node per host, so every such chain is the node's."""
    chains = our_chains()
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
