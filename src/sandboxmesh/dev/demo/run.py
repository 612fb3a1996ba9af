"""What `sandboxmesh demo` runs: the whole system on one machine, in the foreground until Ctrl-C.

Orchestration only; the parts live in `sandboxmesh.dev.demo`. In order: the local cluster with a
real node, the images loaded into it, the control plane on this host (SQLite, a bootstrapped
organisation, a registered cluster; it stands for the hosted service, reached by Pods at the
node's address), the chart (agent, operator, route server and its routers, as Pods), the demo
app behind its routers, then one sandbox created through the API and followed until its route
is live. Everything is stopped in reverse order on Ctrl-C or SIGTERM, or when a step fails
(which prints one line).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

import httpx
import typer

from sandboxmesh import home
from sandboxmesh.cli import session
from sandboxmesh.cli.errors import CliError
from sandboxmesh.client import ClientConfig, ControlPlaneClient, errors
from sandboxmesh.dev.cluster import START_ERRORS, Binaries, ClusterConfig, LocalCluster
from sandboxmesh.dev.cluster.images.catalog import CheckoutMissing
from sandboxmesh.dev.cluster.node import configs as node_configs
from sandboxmesh.dev.demo import controlplane as demo_controlplane
from sandboxmesh.dev.demo import in_cluster, manifests, routed_app, sandboxes, summary
from sandboxmesh.kube import errors as kube_errors
from sandboxmesh.spec.crd import all_manifests

DEMO_SANDBOX = "pr-42"
APP_TIMEOUT = 180.0
SANDBOX_TIMEOUT = 180.0
ROUTE_TIMEOUT = 30.0
#: Short long-polls: a sandbox made through the API reaches the cluster at once anyway (the
#: poll answers on a change), and a stopping control plane never waits long for one.
CHART_VALUES = {"agent.pollWaitSeconds": "5"}
#: The preview gateway's domain: no DNS serves it, so the instructions say how to reach it.
PREVIEW_DOMAIN = "preview.test"


def preview_port(frontend_port: int) -> int:
    """The preview gateway's NodePort: next to the frontend's."""
    return frontend_port + 1 if frontend_port < 32767 else frontend_port - 1


def chart_values(frontend_port: int) -> dict[str, str]:
    port = str(preview_port(frontend_port))
    return {
        **CHART_VALUES,
        "preview.domain": PREVIEW_DOMAIN,
        "preview.scheme": "http",
        "preview.port": port,
        "preview.gateway.replicas": "1",
        "preview.gateway.service.type": "NodePort",
        "preview.gateway.service.nodePort": port,
    }


#: What a failing step may raise; each becomes one `error:` line.
STEP_ERRORS: tuple[type[Exception], ...] = (
    *START_ERRORS,
    CheckoutMissing,
    in_cluster.ChartFailed,
    routed_app.AppNotReady,
    sandboxes.SandboxNotReady,
    errors.ClientError,
    *kube_errors.CLIENT_ERRORS,  # a call to the cluster's API server that failed
    httpx.HTTPError,
    TimeoutError,
)


def run(nodes: int, port: int, frontend_port: int) -> None:
    """Start the whole system on this machine and keep it running until Ctrl-C."""
    # The front door is a NodePort (kube-proxy's rule, no socket): only the API's port can
    # be taken by something on this host.
    _check_free(port, "--port")
    if frontend_port == port:
        raise CliError(
            f"--frontend-port {frontend_port} is the control plane's --port too: choose another"
        )
    _stop_on_signals()
    sandboxmesh_home = home.sandboxmesh_home()
    workdir = sandboxmesh_home / "demo"
    workdir.mkdir(exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            _start(stack, sandboxmesh_home, workdir, nodes, port, frontend_port)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        pass
    except STEP_ERRORS as error:
        raise CliError(_one_line(error)) from error
    typer.echo("stopped.")


def _start(
    stack: contextlib.ExitStack,
    sandboxmesh_home: Path,
    workdir: Path,
    nodes: int,
    port: int,
    frontend_port: int,
) -> None:
    _progress(
        "starting the local cluster: etcd, kube-apiserver, controllers, scheduler, and a real "
        f"node ({node_configs.NODE_NAME} at {node_configs.NODE_IP}: kubelet, containerd, CNI, "
        "kube-proxy, CoreDNS)..."
    )
    cluster = LocalCluster(
        ClusterConfig(
            nodes=nodes,
            real_node=True,
            crds=all_manifests(),
            start_timeout=180,
            # The front door keeps its port: a NodePort, so the range must hold it.
            node_port_range=f"{min(30000, frontend_port - 1)}-{max(32767, frontend_port + 1)}",
        )
    )
    cluster.start()
    stack.callback(cluster.stop)
    stack.callback(_progress, "stopping the local cluster (every Pod, container and rule)...")
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    kubeconfig.symlink_to(cluster.kubeconfig)
    stack.callback(kubeconfig.unlink, missing_ok=True)

    _progress("building the images (cached by content) and loading them into the node...")
    in_cluster.load_images(cluster)

    _progress("starting the control plane (SQLite) with a demo organisation...")
    plane = stack.enter_context(
        demo_controlplane.control_plane(workdir, host=node_configs.NODE_IP, port=port)
    )
    stack.callback(_progress, "stopping the control plane...")
    # The cluster goes first (stop is idempotent): its agent's long-poll would hold the
    # control plane's stop until the poll ends.
    stack.callback(cluster.stop)

    _progress(
        "installing the chart (agent, operator, route server) with helm; the agent connects "
        f"to {plane.url}..."
    )
    in_cluster.Install(
        cluster.kubeconfig, plane.url, plane.cluster_token, values=chart_values(frontend_port)
    ).install()

    _progress(
        "deploying the demo app (frontend -> checkout -> payments) and waiting for its routers..."
    )
    app = routed_app.deploy(
        cluster.kubeconfig, manifests.NAMESPACE, frontend_node_port=frontend_port,
        timeout=APP_TIMEOUT,
    )  # fmt: skip

    _progress(f"creating sandbox {DEMO_SANDBOX} (a fork of checkout) through the API...")
    client = stack.enter_context(ControlPlaneClient(ClientConfig(plane.url, plane.token)))
    key = sandboxes.create(
        client,
        manifests.sandbox(DEMO_SANDBOX, cluster=demo_controlplane.DEMO_CLUSTER, previews=True),
    )
    status = sandboxes.wait_ready(client, DEMO_SANDBOX, SANDBOX_TIMEOUT)
    _progress(f"sandbox {DEMO_SANDBOX} is Ready; waiting for its route...")
    sandboxes.wait_routed(app, DEMO_SANDBOX, key, ROUTE_TIMEOUT)

    info = summary.DemoInfo(
        api_url=plane.url,
        portal_url=plane.url,
        portal_email=demo_controlplane.DEMO_EMAIL,
        portal_password=plane.password,
        token=plane.token,
        frontend_url=app.frontend_url,
        sandboxes=(
            summary.DemoSandbox(DEMO_SANDBOX, key, {u.name: u.url for u in status.preview_urls}),
        ),
        mail_dir=plane.mail_dir,
    )
    _log_in(stack, plane.url, plane.token)
    demo_json = sandboxmesh_home / "demo.json"
    summary.write(demo_json, info)
    stack.callback(demo_json.unlink, missing_ok=True)
    typer.echo(
        summary.instructions(
            info,
            cli=sys.argv[0] if sys.argv[0].endswith("sandboxmesh") else "sandboxmesh",
            kubectl=shutil.which("kubectl") or str(Binaries.locate().kubectl),
            kubeconfig=kubeconfig,
            namespace=manifests.NAMESPACE,
            home=sandboxmesh_home,
        )
    )


def _progress(message: str) -> None:
    typer.echo(message)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _check_free(port: int, option: str) -> None:
    # The wildcard address: taken on any address (the node's bridge address included, where
    # the control plane will listen) fails here, in one line, rather than at start-up.
    with socket.socket() as sock:
        try:
            sock.bind(("", port))
        except OSError as error:
            raise CliError(
                f"port {port} is not free ({error.strerror}); choose another with {option}"
            ) from error


def _secret_file(path: Path, content: str) -> Path:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(content)
    return path


def _log_in(stack: contextlib.ExitStack, url: str, token: str) -> None:
    """Log the CLI in to the demo; put back the login it had (if any) when the demo stops,
    since the demo's token dies with its database."""
    stored = session.credentials_path()
    previous = stored.read_bytes() if stored.exists() else None
    session.save(session.Credentials(url=url, token=token))

    def restore() -> None:
        stored.unlink(missing_ok=True)
        if previous is not None:
            _secret_file(stored, previous.decode())

    stack.callback(restore)


def _stop_on_signals() -> None:
    """The first Ctrl-C or SIGTERM unwinds everything started (as KeyboardInterrupt); further
    ones are ignored, so the stop itself is never cut short."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(sys.stdout.fileno(), b"\nstopping...\n")
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
