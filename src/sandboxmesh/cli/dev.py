"""`sandboxmesh dev ...`: local infrastructure for people working on or trying SandboxMesh."""

from __future__ import annotations

from pathlib import Path

import typer

from sandboxmesh import home
from sandboxmesh.cli.errors import CliError
from sandboxmesh.localcluster import (
    BinariesMissing,
    ClusterConfig,
    ClusterStartTimeout,
    ClusterState,
    LocalCluster,
    ProcessFailed,
    stop_detached,
)
from sandboxmesh.localcluster.cluster import STATE_FILE, cluster_is_running
from sandboxmesh.spec.crd import crd_manifest

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Local infrastructure for development."
)
cluster_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="A local Kubernetes cluster (real, KWOK nodes).",
)
app.add_typer(cluster_app, name="cluster")


def _workdir() -> Path:
    return home.sandboxmesh_home() / "dev-cluster"


def _state() -> ClusterState | None:
    path = _workdir() / STATE_FILE
    return ClusterState.from_json(path.read_text()) if path.exists() else None


@cluster_app.command("up")
def cluster_up(
    nodes: int = typer.Option(3, min=1, max=100, help="Number of simulated (KWOK) nodes."),
    timeout: float = typer.Option(60.0, min=5, help="Seconds to wait for the cluster."),
) -> None:
    """Start the cluster in the background; returns once it is healthy."""
    state = _state()
    if state is not None and cluster_is_running(state):
        typer.echo(f"already up: {state.server}", err=True)
        typer.echo(state.kubeconfig)
        return
    if state is not None:
        stop_detached(state)  # leftovers of a cluster whose processes died
    config = ClusterConfig(
        nodes=nodes,
        workdir=_workdir(),
        crds=[crd_manifest()],
        start_timeout=timeout,
        die_with_starter=False,  # it runs on in the background after `up` returns
    )
    cluster = LocalCluster(config)
    typer.echo(
        f"starting etcd, kube-apiserver, controllers, scheduler and KWOK ({nodes} nodes)...",
        err=True,
    )
    try:
        cluster.start()
    except (BinariesMissing, ClusterStartTimeout, ProcessFailed) as error:
        raise CliError(str(error)) from error
    typer.echo(
        f"cluster up at {cluster.server}; stop it with `sandboxmesh dev cluster down`", err=True
    )
    typer.echo(f"export KUBECONFIG={cluster.kubeconfig}", err=True)
    typer.echo(cluster.kubeconfig)


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop the background cluster and remove its files."""
    state = _state()
    if state is None:
        typer.echo("no dev cluster is up", err=True)
        return
    stopped = stop_detached(state)
    typer.echo(
        f"stopped {', '.join(stopped) or 'nothing (already gone)'}; removed {state.workdir}",
        err=True,
    )


@app.command("mail")
def mail(
    port: int = typer.Option(8025, min=1, max=65535, help="The loopback port to listen on."),
    maildir: Path | None = typer.Option(
        None, "--maildir", help="Where mails go (a Maildir); default: SANDBOXMESH_HOME/mail."
    ),
) -> None:
    """A local SMTP server that keeps every mail in a Maildir, until Ctrl-C: for a
    development control plane, which cannot confirm addresses without mail."""
    import signal
    import threading

    from sandboxmesh.demo.mail_catcher import MailCatcher

    directory = maildir or home.sandboxmesh_home() / "mail"
    try:
        catcher = MailCatcher(port=port, maildir=directory).start()
    except OSError as error:
        raise CliError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from error
    typer.echo(f"SMTP on 127.0.0.1:{port}; mails go to {directory / 'new'}", err=True)
    typer.echo("point a control plane at it:", err=True)
    typer.echo(
        f"  export SANDBOXMESH_MAIL__SMTP_HOST=127.0.0.1 SANDBOXMESH_MAIL__SMTP_PORT={port} "
        "SANDBOXMESH_MAIL__SMTP_SECURITY=none",
        err=True,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    catcher.stop()
    typer.echo("stopped.", err=True)
