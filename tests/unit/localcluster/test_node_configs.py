"""The real node's configuration: everything under its own directory, nothing off the machine."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from sandboxmesh.dev.cluster.node import archives, configs
from sandboxmesh.dev.cluster.node.configs import NodeLayout, NodePorts

LAYOUT = NodeLayout(Path("/work/cluster/node"))
PORTS = NodePorts(10250, 10248, 10256, 10249, 8080, 8181)


def test_containerd_keeps_its_state_in_the_work_directory_and_pulls_nothing() -> None:
    config = tomllib.loads(configs.containerd_config(LAYOUT))
    assert config["root"].startswith("/work/cluster/node/")
    assert config["state"].startswith("/run/sandboxmesh/node/")  # short socket paths
    assert config["grpc"]["address"] == str(LAYOUT.containerd_socket)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == configs.PAUSE_IMAGE
    assert cri["registry"]["config_path"] == str(LAYOUT.registry_hosts_dir)
    assert cri["cni"]["conf_dir"] == str(LAYOUT.cni_conf_dir)
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["Root"].startswith("/run/sandboxmesh/node/")
    assert "io.containerd.internal.v1.opt" in config["disabled_plugins"]  # writes to /opt

    hosts = tomllib.loads(configs.registry_hosts())
    assert hosts["server"].startswith("http://127.0.0.1:")
    assert list(hosts["host"]) == [hosts["server"]]


def test_pods_sit_on_the_node_bridge_without_masquerade() -> None:
    conflist = json.loads(configs.cni_conflist(LAYOUT))
    bridge = conflist["plugins"][0]
    assert bridge["type"] == "bridge"
    assert bridge["bridge"] == configs.BRIDGE
    assert bridge["ipMasq"] is False
    subnet = {"subnet": configs.POD_SUBNET, "gateway": configs.NODE_IP}
    assert bridge["ipam"]["ranges"] == [[subnet]]
    assert bridge["ipam"]["dataDir"].startswith("/work/cluster/node/")


def test_node_ports_and_dns_stay_on_the_node_address() -> None:
    proxy = yaml.safe_load(configs.kube_proxy_config(Path("/k/proxy"), PORTS))
    assert proxy["nodePortAddresses"] == [f"{configs.NODE_IP}/32"]
    assert proxy["mode"] == "iptables"
    corefile = configs.corefile(Path("/k/admin"), PORTS)
    assert f"bind {configs.NODE_IP}" in corefile
    assert "forward" not in corefile  # cluster names only: nothing leaves the machine
    assert configs.resolv_conf() == f"nameserver {configs.NODE_IP}\n"


def test_the_kubelet_keeps_loaded_images_and_its_cgroups_under_one_root() -> None:
    kubelet = yaml.safe_load(
        configs.kubelet_config(LAYOUT, PORTS, Path("/pki/ca"), (Path("/c"), Path("/k")))
    )
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert kubelet["cgroupRoot"] == "/sandboxmesh"
    assert kubelet["failCgroupV1"] is False
    assert kubelet["address"] == configs.NODE_IP
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["podLogsDir"].startswith("/work/cluster/node/")


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_image_archives_are_told_apart_from_other_files(tmp_path: Path) -> None:
    docker = _tar(
        tmp_path / "docker.tar",
        {"manifest.json": json.dumps([{"RepoTags": ["example/app:1"], "Layers": []}]).encode()},
    )
    assert archives.image_names(docker) == ["example/app:1"]
    oci = _tar(
        tmp_path / "oci.tar",
        {
            "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
            "index.json": json.dumps(
                {"manifests": [{"annotations": {"io.containerd.image.name": "example/b:2"}}]}
            ).encode(),
        },
    )
    assert archives.image_names(oci) == ["example/b:2"]

    other = _tar(tmp_path / "other.tar", {"README": b"hello"})
    with pytest.raises(archives.NotAnImageArchive, match="not an image archive"):
        archives.image_names(other)
    broken = _tar(tmp_path / "broken.tar", {"manifest.json": b"{not json"})
    with pytest.raises(archives.NotAnImageArchive, match="not JSON"):
        archives.image_names(broken)
    text = tmp_path / "notes.txt"
    text.write_text("not a tar")
    with pytest.raises(archives.NotAnImageArchive, match="not a tar archive"):
        archives.image_names(text)
    with pytest.raises(archives.NotAnImageArchive, match="no such file"):
        archives.image_names(tmp_path / "missing.tar")
