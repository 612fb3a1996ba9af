"""`sandboxmesh dev ...` (local infrastructure for people working on or trying SandboxMesh)
and `sandboxmesh demo` (the whole system on one machine).

The CLI's app registers both (`app` and `demo`); this is the one module of the development
wing that the product's CLI imports. The demo's orchestration (`dev.demo.run`) is imported
only when the demo runs, so that every other command does not pay for importing the route
server, Envoy's protos and FastAPI (over a second of start-up, on every CLI call and every
process a test starts).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from sandboxmesh import home
from sandboxmesh.cli.errors import CliError
from sandboxmesh.dev.cluster import (
    START_ERRORS,
    ClusterConfig,
    ClusterState,
    LocalCluster,
    stop_detached,
)
from sandboxmesh.dev.cluster.detached import STATE_FILE, cluster_is_running
from sandboxmesh.dev.cluster.images.buildah import ImageBuildFailed
from sandboxmesh.dev.cluster.node import archives as archives_module
from sandboxmesh.dev.cluster.node.configs import NODE_IP, NODE_NAME, NodeLayout
from sandboxmesh.spec.crd import all_manifests

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Local infrastructure for development."
)
cluster_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="A local Kubernetes cluster (real, KWOK nodes).",
)
app.add_typer(cluster_app, name="cluster")
images_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="The project's images, built without Docker (buildah over an mmdebstrap base).",
)
app.add_typer(images_app, name="images")


def _workdir() -> Path:
    return home.sandboxmesh_home() / "dev-cluster"


def _state() -> ClusterState | None:
    path = _workdir() / STATE_FILE
    return ClusterState.from_json(path.read_text()) if path.exists() else None


@cluster_app.command("up")
def cluster_up(
    kwok_nodes: int | None = typer.Option(
        None,
        "--kwok-nodes",
        min=0,
        max=1000,
        help="Simulated (KWOK) nodes beside the real one, tainted as KWOK's docs do (default: "
        "none; 3 with --kwok-only).",
    ),
    kwok_only: bool = typer.Option(
        False, "--kwok-only", help="No real node: for hosts that cannot run containers."
    ),
    timeout: float = typer.Option(180.0, min=5, help="Seconds to wait for the cluster."),
) -> None:
    """Start the cluster in the background; returns once it is healthy."""
    state = _state()
    if state is not None and cluster_is_running(state):
        typer.echo(f"already up: {state.server}", err=True)
        typer.echo(state.kubeconfig)
        return
    if state is not None:
        stop_detached(state)  # leftovers of a cluster whose processes died
    nodes = kwok_nodes if kwok_nodes is not None else (3 if kwok_only else 0)
    if kwok_only and nodes == 0:
        raise CliError("--kwok-only needs at least one node: pass --kwok-nodes N (N >= 1)")
    config = ClusterConfig(
        nodes=nodes,
        real_node=not kwok_only,
        workdir=_workdir(),
        crds=all_manifests(),
        start_timeout=timeout,
        die_with_starter=False,  # it runs on in the background after `up` returns
    )
    cluster = LocalCluster(config)
    parts = ["etcd, kube-apiserver, controllers, scheduler"]
    if not kwok_only:
        parts.append("a real node (containerd, kubelet, kube-proxy, CoreDNS)")
    if nodes:
        parts.append(f"KWOK ({nodes} nodes)")
    typer.echo(f"starting {', '.join(parts)}...", err=True)
    started = time.monotonic()
    try:
        cluster.start()
    except START_ERRORS as error:
        raise CliError(str(error)) from error
    typer.echo(
        f"cluster up at {cluster.server} in {time.monotonic() - started:.1f}s; "
        "stop it with `sandboxmesh dev cluster down`",
        err=True,
    )
    if not kwok_only:
        typer.echo(
            f"node {NODE_NAME} at {NODE_IP}: Pods reach this host there; "
            f"load images with `sandboxmesh dev cluster load-image ARCHIVE...`",
            err=True,
        )
    typer.echo(f"export KUBECONFIG={cluster.kubeconfig}", err=True)
    typer.echo(cluster.kubeconfig)


@cluster_app.command("load-image")
def cluster_load_image(
    archives: list[Path] = typer.Argument(..., help="OCI or docker image archives (tar)."),
) -> None:
    """Import image archives into the real node (Pods find them with IfNotPresent)."""
    socket = _running_node_socket()
    try:
        names = archives_module.load(list(archives), socket)
    except archives_module.NotAnImageArchive as error:
        raise CliError(f"{error}; nothing imported") from error
    except RuntimeError as error:
        raise CliError(str(error)) from error
    for name in names:
        typer.echo(name)
    typer.echo(f"loaded {len(archives)} archive(s) into {NODE_NAME}", err=True)


def _running_node_socket() -> Path:
    state = _state()
    if state is None or not cluster_is_running(state):
        raise CliError("no dev cluster is up: start one with `sandboxmesh dev cluster up`")
    if not state.real_node:
        raise CliError("the dev cluster has no real node (it was started with --kwok-only)")
    return NodeLayout(state.workdir / "node").containerd_socket


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


@images_app.command("build")
def images_build(
    load: bool = typer.Option(
        True, "--load/--no-load", help="Load them into the running dev cluster's node."
    ),
) -> None:
    """Build every image (cached by content) and load them into the dev cluster's node."""
    from sandboxmesh.dev.cluster.images import catalog

    try:
        builder = catalog.builder()
        built = []
        for spec in catalog.IMAGES:
            typer.echo(f"building {spec.reference}...", err=True)
            started = time.monotonic()
            archive = builder.build(spec)
            typer.echo(f"  {archive} ({time.monotonic() - started:.1f}s)", err=True)
            built.append(archive)
    except (catalog.CheckoutMissing, ImageBuildFailed) as error:
        raise CliError(str(error)) from error
    state = _state()
    if load and state is not None and state.real_node and cluster_is_running(state):
        names = archives_module.load(built, _running_node_socket())
        typer.echo(f"loaded into {NODE_NAME}: {', '.join(names)}", err=True)
    elif load:
        typer.echo("no dev cluster with a real node is up: built, not loaded", err=True)
    for archive in built:
        typer.echo(archive)


@images_app.command("context")
def images_context(
    name: str = typer.Argument(..., help="The image: sandboxmesh, router or demo-app."),
    directory: Path = typer.Argument(..., help="A new or empty directory for the context."),
) -> None:
    """Write an image's build context, for `docker build` elsewhere (the release workflow):
    docker build -f deploy/images/NAME/Containerfile DIRECTORY."""
    from sandboxmesh.dev.cluster.images import catalog

    spec = catalog.PUBLISHED.get(name)
    if spec is None:
        raise CliError(f"no image {name!r}: choose one of {', '.join(catalog.PUBLISHED)}")
    try:
        catalog.builder().context(spec, directory)
    except (catalog.CheckoutMissing, ImageBuildFailed) as error:
        raise CliError(str(error)) from error
    typer.echo(f"context of {spec.reference} in {directory}", err=True)


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

    from sandboxmesh.dev.demo.mail_catcher import MailCatcher

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


def demo(
    nodes: int = typer.Option(
        1, min=0, max=100, help="Simulated (KWOK) nodes beside the real one, for scale."
    ),
    port: int = typer.Option(8080, min=1, max=65535, help="The control plane's port."),
    frontend_port: int = typer.Option(
        8000,
        min=1,
        max=65535,
        help="The frontend's NodePort: it answers at http://10.123.0.1:PORT/ (the node's address).",
    ),
) -> None:
    """Start the whole system on this machine and keep it running until Ctrl-C."""
    from sandboxmesh.dev.demo import run as demo_run

    demo_run.run(nodes, port, frontend_port)
