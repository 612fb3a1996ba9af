"""A real node on this host: containerd and runc, CNI, the kubelet, kube-proxy and CoreDNS.

`LocalCluster` drives it: `claim()` and `prepare_network()` before the API server starts (the
API server listens on the node's address, so Pods reach it through the `kubernetes`
Service), `start()` once the control plane answers, `stop()` before the control plane stops.
Kubernetes' own `hack/local-up-cluster.sh` runs the same set from binaries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sandboxmesh.dev.cluster.binaries import Binaries
from sandboxmesh.dev.cluster.node import archives, configs, host
from sandboxmesh.dev.cluster.node.configs import NodeLayout, NodePorts
from sandboxmesh.dev.processes import (
    ManagedProcess,
    free_port,
    terminate_group,
    wait_until_ready,
)

log = logging.getLogger(__name__)

#: The node's processes, in start order (`stop_node` stops the kubelet first, so it recreates
#: nothing while the Pods go).
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "coredns")

Spawn = Callable[[str, list[str]], ManagedProcess]
Wait = Callable[[str, float, list[ManagedProcess], Callable[[], bool]], None]


@dataclass(frozen=True)
class NodeCredentials:
    """What the node's components authenticate with (files written by the cluster)."""

    ca: Path
    kubelet_kubeconfig: Path
    kubelet_serving: tuple[Path, Path]
    proxy_kubeconfig: Path
    dns_kubeconfig: Path


@dataclass
class RealNode:
    workdir: Path
    binaries: Binaries
    #: Builds (once, cached) the pause image archive the CRI's sandbox image comes from.
    pause_archive: Callable[[], Path]
    processes: list[ManagedProcess] = field(default_factory=list)
    record: host.HostRecord | None = None

    @property
    def layout(self) -> NodeLayout:
        return NodeLayout(self.workdir / "node")

    # -- before the control plane --------------------------------------------------------------

    def claim(self) -> None:
        """Take the host (LocalCluster.start has checked it is fit first)."""
        self.record = host.claim(self.workdir)

    def prepare_host(self, service_cidr: str) -> None:
        host.prepare(service_cidr)

    # -- start ---------------------------------------------------------------------------------

    def start(
        self, credentials: NodeCredentials, spawn: Spawn, wait: Wait, deadline: float
    ) -> None:
        layout = self.layout
        ports = NodePorts(*(free_port() for _ in range(6)))
        self._write_configs(layout, ports, credentials)
        pause = self.pause_archive()

        containerd = self._spawn(
            spawn, "containerd", ["containerd", f"--config={layout.containerd_config}"]
        )
        wait("containerd", deadline, [containerd], lambda: self._containerd_answers())
        archives.load([pause], layout.containerd_socket)

        kubelet = self._spawn(
            spawn,
            "kubelet",
            [
                str(self.binaries.kubelet),
                f"--config={layout.kubelet_config}",
                f"--kubeconfig={credentials.kubelet_kubeconfig}",
                f"--root-dir={layout.kubelet_dir}",
                f"--cert-dir={layout.kubelet_dir / 'pki'}",
                f"--hostname-override={configs.NODE_NAME}",
                f"--node-ip={configs.NODE_IP}",
                "--v=1",
            ],
        )
        proxy = self._spawn(
            spawn,
            "kube-proxy",
            [str(self.binaries.kube_proxy), f"--config={layout.kube_proxy_config}"],
        )
        dns = self._spawn(
            spawn, "coredns", [str(self.binaries.coredns), "-conf", str(layout.corefile)]
        )
        watched = [containerd, kubelet, proxy, dns]
        wait(
            "CoreDNS ready (serving cluster names)",
            deadline,
            watched,
            lambda: (
                httpx.get(f"http://127.0.0.1:{ports.dns_ready}/ready", timeout=1).status_code == 200
            ),
        )
        self._save_record()

    def _spawn(self, spawn: Spawn, name: str, argv: list[str]) -> ManagedProcess:
        process = spawn(name, argv)
        self.processes.append(process)
        self._save_record()
        return process

    def _save_record(self) -> None:
        if self.record is not None:
            self.record.pids = [p.pid for p in self.processes if p.popen is not None]
            self.record.save()

    def _write_configs(self, layout: NodeLayout, ports: NodePorts, cred: NodeCredentials) -> None:
        for directory in (
            layout.run,
            layout.containerd_dir,
            layout.registry_hosts_dir / "_default",
            layout.cni_conf_dir,
            layout.cni_ipam_dir,
            layout.kubelet_dir,
            layout.pod_logs_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        layout.containerd_config.write_text(configs.containerd_config(layout))
        (layout.registry_hosts_dir / "_default" / "hosts.toml").write_text(configs.registry_hosts())
        (layout.cni_conf_dir / "10-sandboxmesh.conflist").write_text(configs.cni_conflist(layout))
        layout.kubelet_config.write_text(
            configs.kubelet_config(layout, ports, cred.ca, cred.kubelet_serving)
        )
        layout.resolv_conf.write_text(configs.resolv_conf())
        layout.kube_proxy_config.write_text(configs.kube_proxy_config(cred.proxy_kubeconfig, ports))
        layout.corefile.write_text(configs.corefile(cred.dns_kubeconfig, ports))
        layout.crictl_config.write_text(configs.crictl_config(layout))

    def _cri_answers(self) -> bool:
        try:
            result = subprocess.run(
                [str(self.binaries.crictl), "--config", str(self.layout.crictl_config), "info"],
                capture_output=True,
                timeout=5,
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def _containerd_answers(self) -> bool:
        try:
            result = subprocess.run(
                ["ctr", "--address", str(self.layout.containerd_socket), "version"],
                capture_output=True,
                timeout=5,
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    # -- faults --------------------------------------------------------------------------------

    def crash(self, name: str) -> None:
        """SIGKILL one of the node's processes, alone, as a crash does: containerd's shims, the
        Pods' containers and the other components live on. A fault for tests."""
        process = self._component(name)
        assert process.popen is not None
        os.kill(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=10)

    def start_again(self, name: str, timeout: float = 60.0) -> None:
        """Start a crashed component again with the arguments it had (containerd reconnects
        to its shims, the kubelet resyncs its Pods from the CRI and the API); containerd
        counts as started once its CRI answers (a kubelet started before would exit, as a
        kubelet under systemd does before its restart)."""
        process = self._component(name)
        assert process.popen is not None
        assert process.popen.poll() is not None, f"{name} is running"
        process.start()
        self._save_record()  # its pid changed: a later sweep must know the new one
        if name == "containerd":
            wait_until_ready(
                "containerd's CRI to answer",
                self._cri_answers,
                deadline=time.monotonic() + timeout,
                watched=[process],
                timeout_error=TimeoutError,
            )

    def _component(self, name: str) -> ManagedProcess:
        (process,) = (p for p in self.processes if p.name == name)
        return process

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the Pods through the CRI, then every component (see `stop_node`)."""
        by_name = {p.name: p for p in self.processes}
        stop_node(
            self.workdir,
            self.binaries,
            {name: p.pid for name, p in by_name.items() if p.popen is not None},
            stop=lambda name: by_name[name].stop(),
        )
        self.processes.clear()

    def sweep(self) -> list[str]:
        """Remove whatever of the node is still on the host, once the cluster's processes
        are all stopped (it kills every process that names the work directory); returns what
        it found (empty after a clean stop)."""
        record = self.record or host.HostRecord(workdir=str(self.workdir))
        self.record = None
        return host.sweep(record)


def stop_node(
    workdir: Path,
    binaries: Binaries | None,
    pids: dict[str, int],
    stop: Callable[[str], None] | None = None,
) -> None:
    """The orderly part of stopping a node (its own or a detached one, by pids): kubelet first,
    then every Pod through the CRI (the CNI plugins release addresses and rules), then the
    rest, then kube-proxy's own cleanup of its rules."""
    layout = NodeLayout(workdir / "node")

    def stop_component(name: str) -> None:
        if name not in pids:
            return
        if stop is not None:
            stop(name)
        else:
            terminate_group(pids[name])

    stop_component("kubelet")
    if "containerd" in pids and binaries is not None and layout.crictl_config.exists():
        started = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                [str(binaries.crictl), "--config", str(layout.crictl_config), "rmp", "-fa"],
                capture_output=True,
                timeout=60,
            )
        log.info("node Pods removed in %.1fs", time.monotonic() - started)
    for name in ("kube-proxy", "coredns", "containerd"):
        stop_component(name)
    if binaries is not None and "kube-proxy" in pids:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run([str(binaries.kube_proxy), "--cleanup"], capture_output=True, timeout=30)
