"""`sandboxmesh route-server`: watch Sandbox objects, serve routes to Envoy over xDS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from sandboxmesh import __version__, logs
from sandboxmesh.cli.errors import CliError

#: The default image of routers; repeated here so parsing options imports nothing heavy
#: (a unit test checks it matches routing.core.routers.RouterSettings.image).
DEFAULT_ROUTER_IMAGE = f"ghcr.io/sandboxmesh/router:{__version__}"


def run(
    kubeconfig: Path | None = typer.Option(
        None,
        envvar="KUBECONFIG",
        help="Kubeconfig file; in-cluster configuration (or ~/.kube/config) when unset.",
    ),
    xds_host: str = typer.Option("0.0.0.0", help="Address the xDS (gRPC) server binds."),  # noqa: S104
    xds_port: int = typer.Option(18000, min=0, max=65535, help="Port of the xDS server."),
    http_host: str = typer.Option(
        "127.0.0.1", help="Address of the HTTP API (/v1/routes, /healthz, /readyz, /metrics)."
    ),
    http_port: int = typer.Option(8081, min=0, max=65535, help="Port of the HTTP API."),
    routing_key_header: list[str] = typer.Option(
        [],
        "--routing-key-header",
        help="A further header carrying the routing key as its whole value (repeatable); "
        "baggage and x-sandboxmesh-routing-key are always read.",
    ),
    cluster_domain: str = typer.Option(
        "cluster.local", help="DNS domain of the cluster's Services."
    ),
    address_map: Path | None = typer.Option(
        None,
        help="Local runs only: JSON object mapping NAMESPACE/SERVICE:PORT to HOST:PORT, "
        "used instead of the Service's DNS name.",
    ),
    manage_routers: bool = typer.Option(
        False,
        help="Put a router Deployment in front of every Service annotated "
        "sandboxmesh.io/route=true (docs/routing.md §5).",
    ),
    router_image: str = typer.Option(DEFAULT_ROUTER_IMAGE, help="Envoy image of routers."),
    router_replicas: int = typer.Option(2, min=1, help="Replicas of each router Deployment."),
    router_xds_address: str = typer.Option(
        "sandboxmesh-route-server.sandboxmesh-system.svc.cluster.local:18000",
        help="HOST:PORT at which routers reach this server's xDS port.",
    ),
    mesh: list[str] = typer.Option(
        [],
        "--mesh",
        help="Also write the routes as istio VirtualServices or gateway-api HTTPRoutes "
        "(repeatable; auto: whichever CRDs the cluster has).",
    ),
    route_traces: bool = typer.Option(
        True,
        help="Routers log requests whose tracestate holds 'sandboxmesh' to this server, for "
        "route traces (GET /v1/traces/ID); untraced requests cost one header check.",
    ),
    preview_keys_namespace: str | None = typer.Option(
        None,
        help="Namespace of the agent's preview-keys ConfigMap, which signs the preview "
        "gateway's sign-ins (unset: authenticated previews answer 503).",
    ),
    log_level: str = typer.Option("INFO", help="Log level."),
) -> None:
    """Serve Envoy routers their routes: requests with a sandbox's key go to its forks."""
    # Imported here: grpc, the Envoy protos and lightkube are heavy, and every other command
    # would pay for them.
    from lightkube import ConfigError

    from sandboxmesh.routing import server
    from sandboxmesh.routing.controllers.mesh_applier import MeshKind
    from sandboxmesh.routing.controllers.router_placement import RouterControllerSettings
    from sandboxmesh.routing.core import bootstrap, matching, routers, upstreams

    logs.configure(log_level, json=False)
    try:
        headers = matching.KeyHeaders.with_extra(routing_key_header)
        overrides = upstreams.load_address_map(address_map) if address_map else {}
        xds_address = upstreams.parse_address(router_xds_address)
    except (matching.InvalidHeaderName, upstreams.InvalidAddressMap) as error:
        raise CliError(str(error)) from error
    meshes = {m.strip().lower() for m in mesh}
    unknown = meshes - {"auto", *(k.value for k in MeshKind)}
    if unknown:
        raise CliError(f"unknown --mesh {', '.join(sorted(unknown))} (istio, gateway-api, auto)")
    router_settings = routers.RouterSettings(
        image=router_image,
        replicas=router_replicas,
        xds=bootstrap.AdsServer(xds_address.host, xds_address.port),
        cluster_domain=cluster_domain,
    )
    settings = server.RouteServerSettings(
        xds=server.Listen(xds_host, xds_port),
        http=server.Listen(http_host, http_port),
        headers=headers,
        addresses=upstreams.ServiceAddresses(cluster_domain=cluster_domain, overrides=overrides),
        watch=True,
        kubeconfig=kubeconfig,
        routers=RouterControllerSettings(router=router_settings) if manage_routers else None,
        mesh=tuple("auto" if m == "auto" else MeshKind(m) for m in sorted(meshes)),
        route_traces=route_traces,
        preview_keys_namespace=preview_keys_namespace or None,
    )
    try:
        code = asyncio.run(server.serve_until_signalled(settings))
    except ConfigError as error:
        raise CliError(f"no usable Kubernetes configuration: {error}") from error
    except OSError as error:
        raise CliError(f"cannot listen: {error}") from error
    raise typer.Exit(code)
