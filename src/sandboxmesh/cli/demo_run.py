"""What `sandboxmesh demo` runs: the whole system on one machine, in the foreground until Ctrl-C.

Orchestration only; the parts live in `sandboxmesh.demo`. In order: the control plane (SQLite,
a bootstrapped organisation, a registered cluster), the local cluster, the route server and
Envoy in front of the demo app (whose Pods are local processes), the operator and the agent
as processes of their own, then one sandbox created through the API and followed until its
route is live. Everything is stopped in reverse order on Ctrl-C or SIGTERM, or when a step
fails (which prints one line).
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
import lightkube
import typer

from sandboxmesh import home
from sandboxmesh.cli import demo_controlplane, session
from sandboxmesh.cli.errors import CliError
from sandboxmesh.client import ClientConfig, ControlPlaneClient, errors
from sandboxmesh.demo import components, manifests, routed_app, sandboxes, summary
from sandboxmesh.localcluster import (
    Binaries,
    BinariesMissing,
    ClusterConfig,
    ClusterStartTimeout,
    LocalCluster,
    ProcessFailed,
)
from sandboxmesh.routing.envoy_process import EnvoyFailed, EnvoyMissing
from sandboxmesh.spec.crd import crd_manifest

DEMO_SANDBOX = "pr-42"
LOCAL_NODE = "local-processes"
OPERATOR_NAMESPACE = "sandboxmesh-system"
COMPONENT_TIMEOUT = 60.0
SANDBOX_TIMEOUT = 180.0
ROUTE_TIMEOUT = 30.0
#: What a failing step may raise; each becomes one `error:` line.
STEP_ERRORS = (
    BinariesMissing,
    ClusterStartTimeout,
    ProcessFailed,
    EnvoyMissing,
    EnvoyFailed,
    routed_app.AppNotReady,
    components.ComponentFailed,
    sandboxes.SandboxNotReady,
    errors.ClientError,
    lightkube.ApiError,
    httpx.HTTPError,
    TimeoutError,
)


def run(nodes: int, port: int, frontend_port: int) -> None:
    """Start the whole system on this machine and keep it running until Ctrl-C."""
    for wanted, option in ((port, "--port"), (frontend_port, "--frontend-port")):
        _check_free(wanted, option)
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
    _progress("starting the control plane (SQLite) with a demo organisation...")
    plane = stack.enter_context(
        demo_controlplane.control_plane(workdir, host="127.0.0.1", port=port)
    )

    stack.callback(_progress, "stopping the control plane...")

    _progress("starting the local cluster (etcd, kube-apiserver, controllers, scheduler, KWOK)...")
    cluster = LocalCluster(ClusterConfig(nodes=nodes, crds=[crd_manifest()]))
    cluster.start()
    stack.callback(cluster.stop)
    stack.callback(_progress, "stopping the local cluster...")
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    kubeconfig.symlink_to(cluster.kubeconfig)
    stack.callback(kubeconfig.unlink, missing_ok=True)

    _progress(
        "starting the route server, Envoy, and the demo app (frontend -> checkout -> payments) "
        "on a local node whose Pods are local processes..."
    )
    for previous_run in (workdir / "pods", workdir / "envoy"):
        shutil.rmtree(previous_run, ignore_errors=True)
    app = stack.enter_context(
        routed_app.routed_app(
            cluster.kubeconfig, workdir, frontend_port=frontend_port, node_name=LOCAL_NODE
        )
    )
    stack.callback(_progress, "stopping the demo app's processes, Envoy and the route server...")

    _progress("starting the operator and the agent...")
    routed_app.ensure_namespace(cluster.kubeconfig, OPERATOR_NAMESPACE)
    token_file = _secret_file(workdir / "agent-token", plane.cluster_token)
    stack.callback(token_file.unlink, missing_ok=True)
    operator = components.operator(
        cluster.kubeconfig, manifests.NAMESPACE, OPERATOR_NAMESPACE, workdir / "operator.log"
    )
    stack.callback(operator.stop)
    agent = components.agent(plane.url, token_file, cluster.kubeconfig, workdir / "agent.log")
    stack.callback(agent.stop)
    stack.callback(_progress, "stopping the agent and the operator...")
    for component in (operator, agent):
        component.wait_ready(COMPONENT_TIMEOUT)

    _progress(f"creating sandbox {DEMO_SANDBOX} (a fork of checkout) through the API...")
    client = stack.enter_context(ControlPlaneClient(ClientConfig(plane.url, plane.token)))
    key = sandboxes.create(
        client, manifests.sandbox(DEMO_SANDBOX, cluster=demo_controlplane.DEMO_CLUSTER)
    )
    sandboxes.wait_ready(client, DEMO_SANDBOX, SANDBOX_TIMEOUT)
    _progress(f"sandbox {DEMO_SANDBOX} is Ready; waiting for its route...")
    sandboxes.wait_routed(app, DEMO_SANDBOX, key, ROUTE_TIMEOUT)

    info = summary.DemoInfo(
        api_url=plane.url,
        portal_url=plane.url,
        portal_email=demo_controlplane.DEMO_EMAIL,
        portal_password=plane.password,
        token=plane.token,
        frontend_url=app.frontend_url,
        sandboxes=(summary.DemoSandbox(DEMO_SANDBOX, key),),
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
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
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
