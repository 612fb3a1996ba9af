"""A real Kubernetes control plane as local processes: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK with simulated nodes, and with `real_node`
a real node on this host (sandboxmesh.dev.cluster.node) where Pods run as containers.

Start-up order: the real node's network (the API server listens on its address), etcd, then
the API server; then the controller manager, the scheduler and KWOK together; then the fake
nodes and the real node; the cluster counts as up once the nodes are Ready, the default
ServiceAccount exists (the controllers run) and the CRDs are established.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from sandboxmesh.dev.cluster import kube, pki
from sandboxmesh.dev.cluster.binaries import Binaries
from sandboxmesh.dev.cluster.detached import STATE_FILE, ClusterState
from sandboxmesh.dev.cluster.node import configs as node_configs
from sandboxmesh.dev.cluster.node import host as node_host
from sandboxmesh.dev.cluster.node.node import NodeCredentials, RealNode
from sandboxmesh.dev.processes import (
    ManagedProcess,
    NotReadyInTime,
    ProcessFailed,
    free_port,
    wait_until_ready,
)
from sandboxmesh.kube import errors as kube_errors

log = logging.getLogger(__name__)

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
KWOK_POD_CIDR = "10.244.0.1/16"  # KWOK's flag wants the first address, not the network
NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: KWOK's own taint for its nodes (its docs' node manifest): beside a real node, only Pods that
#: tolerate it land on fake nodes.
KWOK_TAINT = {"key": NODE_ANNOTATION, "value": "fake", "effect": "NoSchedule"}


class ClusterStartTimeout(NotReadyInTime):
    """A component did not become healthy in time; the message names it."""


@dataclass(frozen=True)
class ClusterConfig:
    #: Simulated (KWOK) nodes.
    nodes: int = 3
    #: A real node on this host (kubelet, containerd, CNI, kube-proxy, CoreDNS); one per host.
    real_node: bool = False
    #: Where certificates, data and logs go; a fresh temporary directory when None.
    workdir: Path | None = None
    #: CRD manifests (dicts) to install and wait for.
    crds: Sequence[dict[str, Any]] = ()
    start_timeout: float = 60.0
    #: The API server's NodePort range ("low-high"), where a fixed nodePort outside the
    #: default 30000-32767 is wanted (the demo's front door on its usual port).
    node_port_range: str | None = None
    binaries: Binaries | None = None
    #: Stop the cluster's processes when the process that started it dies (even by
    #: SIGKILL); False for a cluster meant to outlive its starter (`dev cluster up`).
    die_with_starter: bool = True
    #: The API server's audit log (every request's user, user agent, verb and resource, at
    #: the Metadata level) in `audit_log_path`: benchmarks count a component's requests by it.
    audit_log: bool = False
    #: Further users in system:masters, each with `<workdir>/<user>.kubeconfig`: a component
    #: run as one of them is told apart from its caller in the audit log.
    extra_admins: Sequence[str] = ()


class LocalCluster:
    """Start with `start()` or `with LocalCluster(...) as cluster:`; `stop()` removes it all."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self._owns_workdir = self.config.workdir is None
        self.workdir = self.config.workdir or Path(tempfile.mkdtemp(prefix="sandboxmesh-k8s-"))
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.processes: list[ManagedProcess] = []
        self.apiserver_port = 0
        self._ca_pem = b""
        self._tls: ssl.SSLContext | None = None
        self.node: RealNode | None = None

    @property
    def api_host(self) -> str:
        # Beside a real node the API server listens on the node's address, where Pods reach
        # it (the `kubernetes` Service's endpoint) as well as this host.
        return node_configs.NODE_IP if self.config.real_node else "127.0.0.1"

    @property
    def server(self) -> str:
        return f"https://{self.api_host}:{self.apiserver_port}"

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.config.real_node:
            node_host.check_fit()  # before all else: what the host lacks, in one line
        binaries = self.config.binaries or Binaries.locate()
        started = time.monotonic()
        deadline = started + self.config.start_timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(binaries, deadline)
        except BaseException:
            self.stop()
            raise
        log.info("local cluster up in %.1fs at %s", time.monotonic() - started, self.server)

    def _start(self, binaries: Binaries, deadline: float) -> None:
        users = {
            **dict.fromkeys(self.config.extra_admins, "system:masters"),
            "admin": "system:masters",
            "system:kube-controller-manager": None,
            "system:kube-scheduler": None,
        }
        servers: dict[str, tuple[str, str]] = {}
        if self.config.real_node:
            from sandboxmesh.dev.cluster.images.catalog import pause_archive

            self.node = RealNode(self.workdir, binaries, lambda: pause_archive(binaries))
            self.node.claim()
            self.node.prepare_host(SERVICE_CIDR)
            users |= {
                f"system:node:{node_configs.NODE_NAME}": "system:nodes",
                "system:kube-proxy": None,
                "kube-apiserver-kubelet-client": "system:masters",
            }
            servers["kubelet"] = (node_configs.NODE_NAME, node_configs.NODE_IP)
        cluster_pki = pki.generate(
            SERVICE_IP,
            users,
            apiserver_ips=(node_configs.NODE_IP,) if self.config.real_node else (),
            servers=servers,
        )
        files = cluster_pki.write(self.workdir / "pki")
        self._ca_pem = cluster_pki.ca.cert_pem
        etcd_port, etcd_peer = free_port(), free_port()
        self.apiserver_port = free_port()
        kubeconfigs = {
            name: self._write_kubeconfig(self.workdir / f"{name}.kubeconfig", user, pair)
            for name, user, pair in (
                *((user, user, cluster_pki.clients[user]) for user in self.config.extra_admins),
                ("admin", "admin", cluster_pki.clients["admin"]),
                (
                    "controller-manager",
                    "system:kube-controller-manager",
                    cluster_pki.clients["system:kube-controller-manager"],
                ),
                (
                    "scheduler",
                    "system:kube-scheduler",
                    cluster_pki.clients["system:kube-scheduler"],
                ),
            )
        }
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)

        etcd = self._spawn(
            "etcd",
            [
                str(binaries.etcd),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd /health", deadline, etcd, lambda: _etcd_healthy(etcd_port))

        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--bind-address={self.api_host}",
                f"--advertise-address={self.api_host}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={files.apiserver_crt}",
                f"--tls-private-key-file={files.apiserver_key}",
                f"--client-ca-file={files.ca_crt}",
                # Published in kube-system/extension-apiserver-authentication, where the
                # controller manager and scheduler look for it when they authenticate callers.
                f"--requestheader-client-ca-file={files.ca_crt}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--service-account-key-file={files.sa_pub}",
                f"--service-account-signing-key-file={files.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--v=0",
                *self._node_flags(files),
                *self._audit_flags(),
                *(
                    [f"--service-node-port-range={self.config.node_port_range}"]
                    if self.config.node_port_range
                    else []
                ),
            ],
        )
        self._wait("kube-apiserver /readyz", deadline, apiserver, self._apiserver_ready)

        controller_manager = self._spawn(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={kubeconfigs['controller-manager']}",
                f"--authentication-kubeconfig={kubeconfigs['controller-manager']}",
                f"--authorization-kubeconfig={kubeconfigs['controller-manager']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--controllers=*",
                f"--service-account-private-key-file={files.sa_key}",
                f"--root-ca-file={files.ca_crt}",
                "--use-service-account-credentials=true",
                f"--cluster-cidr={POD_CIDR}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--node-monitor-grace-period=60s",
                "--v=0",
            ],
        )
        scheduler = self._spawn(
            "kube-scheduler",
            [
                str(binaries.kube_scheduler),
                f"--kubeconfig={kubeconfigs['scheduler']}",
                f"--authentication-kubeconfig={kubeconfigs['scheduler']}",
                f"--authorization-kubeconfig={kubeconfigs['scheduler']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--v=0",
            ],
        )
        kwok_config = self._write_kwok_config(binaries)
        kwok = self._spawn(
            "kwok",
            [
                str(binaries.kwok),
                f"--kubeconfig={kubeconfigs['admin']}",
                f"--config={kwok_config}",
                f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
                f"--cidr={KWOK_POD_CIDR}",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
                "--node-lease-duration-seconds=40",
            ],
        )
        waiting = [controller_manager, scheduler, kwok]
        if self.node is not None:
            node_kubeconfigs = {
                name: self._write_kubeconfig(
                    self.workdir / f"{name}.kubeconfig", user, cluster_pki.clients[user]
                )
                for name, user in (
                    ("kubelet", f"system:node:{node_configs.NODE_NAME}"),
                    ("kube-proxy", "system:kube-proxy"),
                )
            }
            credentials = NodeCredentials(
                ca=files.ca_crt,
                kubelet_kubeconfig=node_kubeconfigs["kubelet"],
                kubelet_serving=files.server("kubelet"),
                proxy_kubeconfig=node_kubeconfigs["kube-proxy"],
                dns_kubeconfig=kubeconfigs["admin"],
            )
            self.node.start(credentials, self._spawn, self._wait, deadline)
            waiting += self.node.processes
        with kube.admin_client(self.kubeconfig) as client:
            taints = [KWOK_TAINT] if self.node is not None else []
            for index in range(self.config.nodes):
                kube.create_fake_node(client, f"kwok-node-{index}", NODE_ANNOTATION, taints)
            for crd in self.config.crds:
                kube.apply_manifest(client, crd)
            expected = self.config.nodes + (self.node is not None)
            self._wait(
                f"{expected} Ready nodes",
                deadline,
                waiting,
                lambda: kube.ready_node_count(client) >= expected,
            )
            self._wait(
                "the default ServiceAccount (controllers running)",
                deadline,
                waiting,
                lambda: kube.service_account_exists(client, "default", "default"),
            )
            for crd in self.config.crds:
                name = crd["metadata"]["name"]
                self._wait(
                    f"CRD {name} established",
                    deadline,
                    waiting,
                    lambda name=name: kube.crd_established(client, name),  # type: ignore[misc]
                )
        self._write_state()

    def _node_flags(self, files: pki.PkiFiles) -> list[str]:
        if not self.config.real_node:
            # No node reaches the API through the `kubernetes` Service: no endpoint to keep.
            return ["--authorization-mode=RBAC", "--endpoint-reconciler-type=none"]
        cert, key = files.client("kube-apiserver-kubelet-client")
        return [
            # The Node authorizer lets the kubelet read only what its own Pods need.
            "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={cert}",
            f"--kubelet-client-key={key}",
            f"--kubelet-certificate-authority={files.ca_crt}",
            # By its address: the node's name is in no DNS of this machine (exec, logs).
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver (SIGTERM, as a rolling restart does) and start it again on the
        same port over the same etcd data; return once it answers /readyz.

        Every client's connections drop, watches included; the other components and the
        cluster's objects stay as they were. A fault for tests of the API's clients.
        """
        (apiserver,) = (p for p in self.processes if p.name == "kube-apiserver")
        # It stops listening at once but then lingers in its shutdown for over 10 s (seen
        # here); its state is all in etcd, so a short grace before SIGKILL loses nothing.
        apiserver.stop(timeout=2.0)
        apiserver.start()
        deadline = time.monotonic() + self.config.start_timeout
        self._wait(
            "kube-apiserver /readyz after a restart", deadline, apiserver, self._apiserver_ready
        )
        self._write_state()  # its pid changed: `dev cluster down` must find the new one

    def _write_state(self) -> None:
        self.workdir.joinpath(STATE_FILE).write_text(self.state().to_json())

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess(
            name, argv, self.workdir / "logs" / f"{name}.log", self.config.die_with_starter
        )
        process.start()
        self.processes.append(process)
        return process

    def _wait(
        self,
        what: str,
        deadline: float,
        watched: ManagedProcess | list[ManagedProcess],
        ready: Callable[[], bool],
    ) -> None:
        processes = watched if isinstance(watched, list) else [watched]
        wait_until_ready(
            what,
            ready,
            deadline=deadline,
            watched=processes,
            not_yet=(httpx.HTTPError, *kube_errors.CLIENT_ERRORS),
            timeout_error=ClusterStartTimeout,
        )

    def _apiserver_ready(self) -> bool:
        if self._tls is None:
            files = pki.PkiFiles(self.workdir / "pki")
            self._tls = kube.tls_context(files.ca_crt, *files.client("admin"))
        return kube.apiserver_ready(self.server, self._tls)

    @property
    def audit_log_path(self) -> Path:
        return self.workdir / "logs" / "audit.log"

    def _audit_flags(self) -> list[str]:
        if not self.config.audit_log:
            return []
        # One event per request, when its response is complete (a watch's when it ends).
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
            "omitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: Metadata\n"
        )
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log_path}",
            "--audit-log-format=json",
            # Batched off the request path (what it costs the requests counted stays small),
            # and flushed within a second: a reader waits that long for the last events.
            "--audit-log-mode=batch",
            "--audit-log-batch-max-wait=1s",
        ]

    def _write_kubeconfig(self, path: Path, user: str, pair: pki.KeyPair) -> Path:
        return pki.write_kubeconfig(path, self.server, self._ca_pem, user, pair)

    def _write_kwok_config(self, binaries: Binaries) -> Path:
        # The stages are the release's own defaults (kustomize/stage/*/fast), copied next to
        # the binary at build time: Nodes turn Ready, Pods Running and Ready at once.
        stages_dir = binaries.kwok.parent.parent / "stages"
        documents = [p.read_text() for p in sorted(stages_dir.glob("*.yaml"))]
        if not documents:
            raise ProcessFailed(f"no KWOK stages in {stages_dir}; run `make k8s-bin`")
        path = self.workdir / "kwok.yaml"
        path.write_text("\n---\n".join(documents))
        return path

    # -- stop --------------------------------------------------------------------------------

    def state(self) -> ClusterState:
        return ClusterState(
            self.workdir,
            self.kubeconfig,
            self.server,
            {p.name: p.pid for p in self.processes if p.popen is not None},
            real_node=self.config.real_node,
        )

    def stop(self) -> None:
        node, self.node = self.node, None
        if node is not None:
            node_processes = set(map(id, node.processes))
            self.processes = [p for p in self.processes if id(p) not in node_processes]
            node.stop()
        # Reverse order: clients first, etcd last, so nothing logs a storm of lost connections.
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if node is not None:
            left = node.sweep()
            if left:
                log.info("removed the real node's %s", ", ".join(left))
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _etcd_healthy(port: int) -> bool:
    response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
    return response.status_code == 200 and response.json().get("health") == "true"
