"""`sandboxmesh demo`: the whole system on one machine, in the foreground until Ctrl-C."""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import typer

from sandboxmesh import home
from sandboxmesh.cli import demo_controlplane
from sandboxmesh.cli.errors import CliError
from sandboxmesh.localcluster import (
    Binaries,
    BinariesMissing,
    ClusterConfig,
    ClusterStartTimeout,
    LocalCluster,
    ProcessFailed,
)
from sandboxmesh.spec.crd import crd_manifest


def demo(
    nodes: int = typer.Option(3, min=1, max=100, help="Number of simulated (KWOK) nodes."),
    port: int = typer.Option(8080, min=1, max=65535, help="The control plane's port."),
) -> None:
    """Start the demo system and keep it running until Ctrl-C."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    workdir = home.sandboxmesh_home() / "demo"
    workdir.mkdir(exist_ok=True)
    typer.echo("starting the control plane (SQLite) with a demo organisation...")
    with demo_controlplane.control_plane(workdir, host="127.0.0.1", port=port) as plane:
        _run_cluster(nodes, workdir, plane, stop)


def _run_cluster(
    nodes: int, workdir: Path, plane: demo_controlplane.DemoControlPlane, stop: threading.Event
) -> None:
    typer.echo("starting the local cluster (etcd, kube-apiserver, controllers, scheduler, KWOK)...")
    cluster = LocalCluster(ClusterConfig(nodes=nodes, crds=[crd_manifest()]))
    try:
        cluster.start()
    except (BinariesMissing, ClusterStartTimeout, ProcessFailed) as error:
        raise CliError(str(error)) from error
    try:
        link = workdir / "kubeconfig"
        link.unlink(missing_ok=True)
        link.symlink_to(cluster.kubeconfig)
        kubectl = shutil.which("kubectl") or str(Binaries.locate().kubectl)
        cli = sys.argv[0] if sys.argv[0].endswith("sandboxmesh") else "sandboxmesh"
        org, cluster_name = demo_controlplane.DEMO_ORG, demo_controlplane.DEMO_CLUSTER
        typer.echo(
            f"\nKubernetes is up at {cluster.server} with {nodes} KWOK nodes and the Sandbox CRD.\n"
            f"Try:\n"
            f"  export KUBECONFIG={link}\n"
            f"  {kubectl} get nodes\n"
            f"  {kubectl} get sandboxes\n"
            f"\nThe control plane is up at {plane.url} (organisation {org!r}, cluster "
            f"{cluster_name!r}; logs in {plane.log}).\n"
            f"API token of {demo_controlplane.DEMO_EMAIL} (owner), shown once:\n"
            f"  {plane.token}\n"
            f"Try:\n"
            f"  {cli} login --url {plane.url} --token {plane.token}\n"
            f"  {cli} cluster list\n"
            f"  {cli} sandbox list\n"
            f"Agent token of cluster {cluster_name!r}: {plane.cluster_token}\n"
            f"\nCtrl-C stops everything."
        )
        stop.wait()
    finally:
        typer.echo("stopping...")
        cluster.stop()
        (workdir / "kubeconfig").unlink(missing_ok=True)
        typer.echo("stopped.")
