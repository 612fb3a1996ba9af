"""`sandboxmesh dev cluster up|down` with the real node: down leaves nothing on the host, and
the next up clears what a killed run left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.eventually import eventually

from sandboxmesh.dev.cluster import ClusterState
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node import archives, host
from sandboxmesh.dev.cluster.node.configs import NODE_NAME, NodeLayout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("real_node_host_free")]


def _cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SANDBOXMESH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "sandboxmesh", "dev", "cluster", *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )  # fmt: skip


def _kubectl(kubeconfig: str, *args: str) -> str:
    from sandboxmesh.dev.cluster import Binaries

    result = subprocess.run(
        [str(Binaries.locate().kubectl), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _run_a_pod(home: Path, kubeconfig: str) -> None:
    archive = catalog.builder().build(catalog.IMAGES[2])
    loaded = _cli(home, "load-image", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    assert catalog.DEMO_APP_IMAGE in loaded.stdout
    _kubectl(kubeconfig, "run", "web", f"--image={catalog.DEMO_APP_IMAGE}",
             "--image-pull-policy=IfNotPresent", "--port=8080")  # fmt: skip
    eventually(
        lambda: _kubectl(kubeconfig, "get", "pod", "web", "-o",
                         "jsonpath={.status.containerStatuses[0].ready}") == "true",
        timeout=90, what="the Pod Ready", interval=0.5,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _host_can_run_the_node(request: pytest.FixtureRequest) -> None:
    lacks = host.missing()
    if lacks and "cannot_run_containers" not in request.node.name:
        pytest.skip(f"THIS HOST CANNOT RUN THE REAL NODE: no {'; no '.join(lacks)}")


def test_up_runs_pods_and_down_leaves_nothing_on_the_host(tmp_path: Path) -> None:
    up = _cli(tmp_path, "up", "--kwok-nodes=1")
    assert up.returncode == 0, up.stderr
    kubeconfig = up.stdout.strip()
    state = ClusterState.from_json((tmp_path / "dev-cluster" / "cluster.json").read_text())
    workdir = str(state.workdir)
    try:
        nodes = _kubectl(kubeconfig, "get", "nodes", "-o", "name")
        assert f"node/{NODE_NAME}" in nodes
        assert "node/kwok-node-0" in nodes
        _run_a_pod(tmp_path, kubeconfig)
        assert host.leftovers(workdir)  # the check sees a running node
    finally:
        down = _cli(tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert host.leftovers(workdir) == []
    assert not Path(workdir).exists()


def test_up_after_a_killed_run_clears_what_it_left(tmp_path: Path) -> None:
    up = _cli(tmp_path, "up")
    assert up.returncode == 0, up.stderr
    kubeconfig = up.stdout.strip()
    state = ClusterState.from_json((tmp_path / "dev-cluster" / "cluster.json").read_text())
    workdir = str(state.workdir)
    try:
        _run_a_pod(tmp_path, kubeconfig)
        # As a crash would: every process of the cluster killed at once, containers and
        # shims left running, mounts, namespaces, rules and the bridge left in place.
        for pid in state.pids.values():
            os.kill(pid, signal.SIGKILL)
        left = host.leftovers(workdir)
        assert any(item.startswith("mount ") for item in left)
        assert f"bridge {host.BRIDGE}" in left

        again = _cli(tmp_path, "up")
        assert again.returncode == 0, again.stderr
        socket = NodeLayout(Path(workdir) / "node").containerd_socket
        assert archives.list_images(socket)  # the pause image, loaded afresh
        eventually(
            lambda: "Ready" in _kubectl(kubeconfig, "get", "node", NODE_NAME), timeout=60,
            what="the node Ready again",
        )  # fmt: skip
    finally:
        down = _cli(tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert host.leftovers(workdir) == []


def test_up_on_a_host_that_cannot_run_containers_says_what_is_missing(tmp_path: Path) -> None:
    # In a user namespace of its own the command runs as an unprivileged user (uid 65534)
    # that still reads the files it owned outside.
    result = subprocess.run(
        ["unshare", "--user", sys.executable, "-m", "sandboxmesh", "dev", "cluster", "up"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SANDBOXMESH_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr  # the "starting" line, then the one error line
    assert "cannot run the real node: no root" in lines[-1]
    assert "--kwok-only" in lines[-1]
    assert not host.HOST_STATE.exists() or host.HostRecord.load() is None


def test_the_sweep_alone_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    """What `up` does first after a crash, without kube-proxy's own cleanup to help: every
    process, mount, namespace, cgroup, jump rule and chain, the bridge and its routes."""
    up = _cli(tmp_path, "up")
    assert up.returncode == 0, up.stderr
    state = ClusterState.from_json((tmp_path / "dev-cluster" / "cluster.json").read_text())
    workdir = str(state.workdir)
    try:
        _run_a_pod(tmp_path, up.stdout.strip())
        for pid in state.pids.values():
            os.kill(pid, signal.SIGKILL)
        left = host.leftovers(workdir)
        assert any(item.startswith("chain filter/KUBE-") for item in left), left
        record = host.HostRecord.load()
        assert record is not None
        host.sweep(record)
        assert host.leftovers(workdir) == []
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        assert "KUBE-" not in rules
        assert "CNI-" not in rules
    finally:
        _cli(tmp_path, "down")
