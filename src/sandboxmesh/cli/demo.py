"""`sandboxmesh demo`: the whole system on one machine, in the foreground until Ctrl-C."""

from __future__ import annotations

import shutil
import signal
import threading
from types import FrameType

import typer

from sandboxmesh import home
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
) -> None:
    """Start the demo system and keep it running until Ctrl-C."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    workdir = home.sandboxmesh_home() / "demo"
    typer.echo("starting the local cluster (etcd, kube-apiserver, controllers, scheduler, KWOK)...")
    cluster = LocalCluster(ClusterConfig(nodes=nodes, crds=[crd_manifest()]))
    try:
        cluster.start()
    except (BinariesMissing, ClusterStartTimeout, ProcessFailed) as error:
        raise CliError(str(error)) from error
    try:
        workdir.mkdir(exist_ok=True)
        link = workdir / "kubeconfig"
        link.unlink(missing_ok=True)
        link.symlink_to(cluster.kubeconfig)
        kubectl = shutil.which("kubectl") or str(Binaries.locate().kubectl)
        typer.echo(
            f"\nKubernetes is up at {cluster.server} with {nodes} KWOK nodes and the Sandbox CRD.\n"
            f"Try:\n"
            f"  export KUBECONFIG={link}\n"
            f"  {kubectl} get nodes\n"
            f"  {kubectl} get sandboxes\n"
            f"\nCtrl-C stops everything."
        )
        stop.wait()
    finally:
        typer.echo("stopping...")
        cluster.stop()
        (workdir / "kubeconfig").unlink(missing_ok=True)
        typer.echo("stopped.")
