"""The real node's configuration files, rendered from its layout (pure: data in, text out).

One node per host: its bridge, its address and kube-proxy's iptables chains are the host's
own, so the names here are fixed rather than per cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NODE_NAME = "sandboxmesh-node"
#: The node's own bridge: the CNI plugin attaches every Pod to it, and its gateway address is
#: the node's InternalIP, so no address of the node ever sits on the machine's outward interface.
BRIDGE = "smesh0"
POD_SUBNET = "10.123.0.0/16"
NODE_IP = "10.123.0.1"
NODE_PREFIX = 16
CLUSTER_DOMAIN = "cluster.local"
#: The CRI's Pod sandbox image: a local one, loaded at every start (never pulled).
PAUSE_IMAGE = "localhost/sandboxmesh/pause:1"
#: Where containerd is told every registry lives: a loopback port nothing listens on, so a pull
#: of an image that was not loaded fails at once, on this machine (the Pod shows ErrImagePull).
NOWHERE_REGISTRY = "http://127.0.0.1:9"
#: Debian's containernetworking-plugins.
CNI_BIN_DIR = Path("/usr/lib/cni")


@dataclass(frozen=True)
class NodeLayout:
    """Every path of the node: files under the cluster's work directory; sockets,
    containerd's state and the kubelet's root under `run` and `lib` (short paths: one node
    per host)."""

    root: Path
    run: Path = Path("/run/sandboxmesh/node")
    #: The kubelet's root: it makes Unix sockets there too, so a short path, on disk (Pods'
    #: emptyDirs live in it).
    lib: Path = Path("/var/lib/sandboxmesh/node")

    @property
    def containerd_dir(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_config(self) -> Path:
        return self.containerd_dir / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def registry_hosts_dir(self) -> Path:
        return self.containerd_dir / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.lib / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def pod_logs_dir(self) -> Path:
        return self.root / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def corefile(self) -> Path:
        return self.root / "Corefile"

    @property
    def crictl_config(self) -> Path:
        return self.root / "crictl.yaml"


@dataclass(frozen=True)
class NodePorts:
    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int
    dns_health: int
    dns_ready: int


def containerd_config(layout: NodeLayout) -> str:
    """containerd 1.6's config (version 2): its own root, state and socket under the work
    directory, the CRI with local-only images and Debian's CNI plugins."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    runc = f"{cri}.containerd.runtimes.runc"
    lines = [
        "version = 2",
        f'root = "{layout.containerd_dir / "root"}"',
        f'state = "{layout.run / "state"}"',
        # Plugins that would write outside the work directory or probe for storage we lack.
        "disabled_plugins = ["
        + ", ".join(
            f'"io.containerd.{name}"'
            for name in (
                "internal.v1.opt",
                "snapshotter.v1.aufs",
                "snapshotter.v1.btrfs",
                "snapshotter.v1.devmapper",
                "snapshotter.v1.zfs",
                "tracing.processor.v1.otlp",
            )
        )
        + "]",
        "[grpc]",
        f'  address = "{layout.containerd_socket}"',
        "[ttrpc]",
        f'  address = "{layout.run / "containerd.sock.ttrpc"}"',
        "[debug]",
        '  level = "warn"',
        "[metrics]",
        '  address = ""',
        f"[{cri}]",
        f'  sandbox_image = "{PAUSE_IMAGE}"',
        # A VM may drop CAP_SYS_RESOURCE: without this runc cannot lower oom_score_adj and
        # every Pod sandbox fails ("can't get final child's PID from pipe").
        "  restrict_oom_score_adj = true",
        "  enable_selinux = false",
        f"[{cri}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        f"[{runc}]",
        '  runtime_type = "io.containerd.runc.v2"',
        f"[{runc}.options]",
        "  SystemdCgroup = false",
        f'  Root = "{layout.run / "runc"}"',
        f"[{cri}.cni]",
        f'  bin_dir = "{CNI_BIN_DIR}"',
        f'  conf_dir = "{layout.cni_conf_dir}"',
        "  max_conf_num = 1",
        f"[{cri}.registry]",
        f'  config_path = "{layout.registry_hosts_dir}"',
    ]
    return "\n".join(lines) + "\n"


def registry_hosts() -> str:
    """`certs.d/_default/hosts.toml`: every registry is the unused loopback port."""
    return (
        f'server = "{NOWHERE_REGISTRY}"\n'
        f'[host."{NOWHERE_REGISTRY}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


def cni_conflist(layout: NodeLayout) -> str:
    """Pods on the node's bridge with host-local addresses; no masquerade, so nothing a Pod
    sends leaves the machine with the node's address (there is nowhere else to go)."""
    config = {
        "cniVersion": "1.0.0",
        "name": "sandboxmesh",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(
    layout: NodeLayout, ports: NodePorts, ca: Path, serving: tuple[Path, Path]
) -> str:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.kubelet_healthz,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        # The machine has cgroup v1; 1.36 refuses it unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        # Every cgroup of the node under one root of its own, which `down` removes.
        "cgroupRoot": "/sandboxmesh",
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(layout.resolv_conf),
        "podLogsDir": str(layout.pod_logs_dir),
        "failSwapOn": False,
        "serializeImagePulls": False,
        # Loaded images are all the node has: never collect them, never evict for disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "maxPods": 250,
        "nodeStatusReportFrequency": "10s",
        "registerNode": True,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(kubeconfig: Path, ports: NodePorts) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{ports.proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{ports.proxy_metrics}",
        # NodePorts answer on the node's address only, never on the machine's others.
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # A one-node cluster of a few dozen Services: program each endpoint change at once
        # rather than at most once a second (the default, for large clusters). A new fork's
        # Service answers sooner after its Pod is Ready (docs/localcluster.md).
        "iptables": {"minSyncPeriod": "0s"},
        # Leave the host's conntrack table as it is.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def corefile(kubeconfig: Path, ports: NodePorts) -> str:
    """Cluster DNS on the node's address: cluster names only, nothing forwarded."""
    return (
        ".:53 {\n"
        f"    bind {NODE_IP}\n"
        "    errors\n"
        f"    health 127.0.0.1:{ports.dns_health}\n"
        f"    ready 127.0.0.1:{ports.dns_ready}\n"
        f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "    }\n"
        "    cache 5\n"
        "}\n"
    )


def resolv_conf() -> str:
    """What Pods with dnsPolicy Default get: the cluster's DNS, never the machine's."""
    return f"nameserver {NODE_IP}\n"


def crictl_config(layout: NodeLayout) -> str:
    endpoint = f"unix://{layout.containerd_socket}"
    return yaml.safe_dump({"runtime-endpoint": endpoint, "image-endpoint": endpoint, "timeout": 30})
