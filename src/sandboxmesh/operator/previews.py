"""A sandbox's preview URLs (spec/preview.py), computed from its spec and its forks: pure.

Each endpoint the spec declares gets one; without `endpoints`, each baseline Service a fork
serves (the Services whose traffic the fork's Services may take) gets one, on its first port,
named as the Service. The preview gateway (routing/core/gateway.py) reads them back from the
status to know which host goes to which Service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandboxmesh.operator import naming
from sandboxmesh.spec import preview
from sandboxmesh.spec.names import routed_service
from sandboxmesh.spec.preview import Endpoint, PreviewUrl

Manifest = dict[str, Any]


@dataclass(frozen=True)
class PreviewSettings:
    """Where the cluster's preview gateway answers; no `domain`, no preview URLs."""

    domain: str | None = None
    scheme: str = "https"
    #: The port in the URLs, when the gateway is not reached on the scheme's own port (a
    #: NodePort, say).
    port: int | None = None

    def url(self, host: str) -> str:
        default = {"https": 443, "http": 80}.get(self.scheme)
        port = "" if self.port in (None, default) else f":{self.port}"
        return f"{self.scheme}://{host}{port}/"


def _first_port(service: Manifest | None) -> int | None:
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    return int(ports[0]["port"]) if ports and "port" in ports[0] else None


def default_endpoints(fork_services: Iterable[Manifest]) -> list[Endpoint]:
    """One endpoint per baseline Service the fork Services serve, named as that Service."""
    endpoints: dict[str, Endpoint] = {}
    for service in fork_services:
        metadata = service["metadata"]
        baseline = (metadata.get("labels") or {}).get(naming.LABEL_BASELINE_SERVICE)
        port = _first_port(service)
        if not baseline or port is None:
            continue
        served = routed_service(baseline)
        name = served[: preview.ENDPOINT_NAME_MAX].rstrip("-")
        if name in endpoints:
            continue  # one Service name forked in two namespaces: the first keeps the name
        endpoints[name] = Endpoint(
            name=name, namespace=metadata["namespace"], service=served, port=port
        )
    return list(endpoints.values())


def preview_urls(
    settings: PreviewSettings,
    routing_key: str,
    declared: Sequence[Endpoint] | None,
    fork_services: Iterable[Manifest],
    services: Mapping[tuple[str, str], Manifest],
) -> tuple[list[PreviewUrl], list[str] | None]:
    """The sandbox's preview URLs, and a problem per declared endpoint that gets none (None
    without a preview domain: no condition then).

    `services` are the Services read for the forks, by (namespace, name): a declared endpoint
    without a port takes its Service's first port from there.
    """
    if settings.domain is None:
        return [], None
    endpoints = list(declared) if declared is not None else default_endpoints(fork_services)
    urls: list[PreviewUrl] = []
    problems: list[str] = []
    for endpoint in endpoints:
        port = endpoint.port
        if port is None:
            port = _first_port(services.get((endpoint.namespace, endpoint.service)))
        if port is None:
            problems.append(
                f"endpoint {endpoint.name}: Service {endpoint.namespace}/{endpoint.service} "
                "does not exist or has no port; name its port, or fix the Service"
            )
            continue
        host = preview.preview_host(endpoint.name, routing_key, settings.domain)
        urls.append(
            PreviewUrl(
                name=endpoint.name,
                url=settings.url(host),
                namespace=endpoint.namespace,
                service=endpoint.service,
                port=port,
                access=endpoint.access,
            )
        )
    return urls, problems
