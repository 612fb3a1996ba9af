"""Starting and stopping local clusters leaves nothing behind: no process, no port, no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import Namespace
from tests.support.eventually import eventually

from sandboxmesh.dev.cluster import ClusterConfig, LocalCluster
from sandboxmesh.dev.processes import port_open

pytestmark = pytest.mark.cluster


def _listening_ports(pids: list[int]) -> set[int]:
    """TCP ports in LISTEN state owned by any of `pids` (read from /proc, no tools needed)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError):
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_start_and_stop_twice_leaves_no_process_or_port_behind() -> None:
    # The second start also writes the API server's audit log, with a user of its own.
    for audit in (False, True):
        config = ClusterConfig(nodes=1, audit_log=audit, extra_admins=["bench"] if audit else [])
        cluster = LocalCluster(config)
        with cluster:
            pids = [p.pid for p in cluster.processes]
            assert len(pids) == 5
            ports = _listening_ports(pids)
            assert cluster.apiserver_port in ports
            assert len(ports) >= 5
            workdir = cluster.workdir
            assert workdir.exists()
            if audit:
                _assert_audited_as_its_own_user(cluster)
            else:
                assert not cluster.audit_log_path.exists()
        assert not [pid for pid in pids if _alive(pid)]
        assert not [port for port in ports if port_open(port)]
        assert not workdir.exists()


def _assert_audited_as_its_own_user(cluster: LocalCluster) -> None:
    client = Client(config=KubeConfig.from_file(cluster.workdir / "bench.kubeconfig"))
    try:
        client.get(Namespace, "kube-system")  # system:masters: allowed
    finally:
        client.close()

    def bench_requests() -> list[dict[str, Any]]:
        if not cluster.audit_log_path.exists():
            return []
        events = [json.loads(line) for line in cluster.audit_log_path.read_text().splitlines()]
        return [e for e in events if e["user"]["username"] == "bench"]

    # The log is written in batches, flushed within a second.
    (event,) = eventually(bench_requests, timeout=30, what="the bench user's request audited")
    assert (event["verb"], event["objectRef"]["resource"]) == ("get", "namespaces")
    assert event["objectRef"]["name"] == "kube-system"


def test_dev_cluster_up_and_down_from_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "SANDBOXMESH_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "sandboxmesh", "dev", "cluster"]
    up = subprocess.run(
        [*command, "up", "--kwok-only", "--kwok-nodes", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    kubeconfig = Path(up.stdout.strip())
    assert kubeconfig.is_file()
    # The processes outlive the command that started them.
    state = yaml.safe_load((kubeconfig.parent / "cluster.json").read_text())
    pids = list(state["pids"].values())
    assert all(_alive(pid) for pid in pids)
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    port = urlparse(server).port
    assert port is not None
    assert port_open(port)

    again = subprocess.run(
        [*command, "up"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode == 0
    assert again.stdout.strip() == str(kubeconfig)
    assert "already up" in again.stderr

    down = subprocess.run(
        [*command, "down"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert down.returncode == 0, down.stderr
    assert "kube-apiserver" in down.stderr
    assert not [pid for pid in pids if _alive(pid)]
    assert not port_open(port)
    assert not kubeconfig.parent.exists()


def test_a_killed_starter_takes_its_cluster_with_it(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", (
            "import json, sys, threading\n"
            "from sandboxmesh.dev.cluster import ClusterConfig, LocalCluster\n"
            "cluster = LocalCluster(ClusterConfig(nodes=1))\n"
            "cluster.start()\n"
            "print(json.dumps([p.pid for p in cluster.processes]), flush=True)\n"
            "threading.Event().wait()\n"
        )],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert starter.stdout is not None
    pids = json.loads(starter.stdout.readline())
    assert len(pids) == 5
    assert all(_alive(pid) for pid in pids)
    starter.kill()  # no clean-up code runs
    starter.wait()
    eventually(lambda: not [pid for pid in pids if _alive(pid)], timeout=30,
               what="the cluster's processes to die with their starter")  # fmt: skip
