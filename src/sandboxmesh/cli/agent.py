"""`sandboxmesh agent`: the in-cluster agent process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from sandboxmesh.cli.errors import CliError
from sandboxmesh.cli.logs import LogFormat, configure_logging


def run(
    url: str = typer.Option(..., "--url", envvar="SANDBOXMESH_URL", help="Control-plane URL."),
    token_file: Path | None = typer.Option(
        None, envvar="SANDBOXMESH_TOKEN_FILE", help="File holding the cluster token."
    ),
    token_secret: str | None = typer.Option(
        None,
        envvar="SANDBOXMESH_TOKEN_SECRET",
        help="Secret holding the cluster token, as NAMESPACE/NAME (key `token`).",
    ),
    kubeconfig: Path | None = typer.Option(
        None, envvar="KUBECONFIG", help="Kubeconfig file; in-cluster config when unset."
    ),
    poll_wait: float = typer.Option(30.0, min=1, max=300, help="Seconds a long-poll may wait."),
    probe_port: int = typer.Option(
        8081, min=0, max=65535, help="Port of /healthz, /readyz, /metrics (0: off)."
    ),
    probe_host: str = typer.Option("0.0.0.0", help="Address the probe server binds."),  # noqa: S104
    route_server_url: str | None = typer.Option(
        None,
        envvar="SANDBOXMESH_ROUTE_SERVER_URL",
        help="The route server's HTTP API (e.g. http://sandboxmesh-route-server.sandboxmesh-"
        "system.svc.cluster.local:8081): relay route traces from it. Unset: no route traces.",
    ),
    namespace: str | None = typer.Option(
        None,
        envvar="SANDBOXMESH_AGENT_NAMESPACE",
        help="Namespace of the agent's own objects (the preview keys' ConfigMap). Unset: "
        "that of --token-secret, else the Pod's (or the kubeconfig context's).",
    ),
    log_level: str = typer.Option("INFO", help="Log level."),
    log_format: LogFormat = typer.Option(LogFormat.JSON, help="Log format."),
) -> None:
    """Sync this cluster's sandboxes with the control plane."""
    # Imported here: lightkube and aiohttp are heavy, and every other command would pay.
    from sandboxmesh import agent

    configure_logging(log_level, log_format)
    if (token_file is None) == (token_secret is None):
        raise CliError("give exactly one of --token-file or --token-secret NAMESPACE/NAME")
    secret_namespace = secret_name = None
    if token_secret is not None:
        secret_namespace, _, secret_name = token_secret.partition("/")
        if not secret_namespace or not secret_name:
            raise CliError(f"--token-secret must be NAMESPACE/NAME, not {token_secret!r}")
    settings = agent.AgentSettings(
        control_plane_url=url,
        token=agent.TokenSettings(
            file=token_file, secret_namespace=secret_namespace, secret_name=secret_name
        ),
        sync=agent.SyncSettings(poll_wait_seconds=poll_wait),
        kubeconfig=kubeconfig,
        probe_host=probe_host,
        probe_port=probe_port,
        route_server_url=route_server_url,
        namespace=namespace,
    )
    try:
        code = asyncio.run(agent.run_agent(settings))
    except agent.AgentStartError as error:
        raise CliError(str(error)) from error
    raise typer.Exit(code)
