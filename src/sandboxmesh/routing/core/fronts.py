"""Fronts: which baseline Service port an Envoy stands in front of, and how it reaches it.

The placement (a router sidecar, a router Deployment, or a local run) knows where Envoy
listens and where the baseline's own backends are; it writes that into the node metadata of
Envoy's bootstrap (`bootstrap.envoy_bootstrap`). The route server reads it back from the
first xDS request and renders that node's listeners, routes and clusters from it, so the
route server itself holds no per-placement state.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.spec import names

#: The node-metadata field (of Envoy's bootstrap `node.metadata`) holding the fronts.
NODE_METADATA_FIELD = "sandboxmesh.io/fronts"

Port = Annotated[int, Field(ge=1, le=65535)]
# 0 lets the kernel choose (tests read the bound port from Envoy's admin API).
ListenPort = Annotated[int, Field(ge=0, le=65535)]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]]+$")]


class Front(BaseModel):
    """Envoy listens on `listen_address:listen_port` for traffic to Service `namespace/service`
    port `port`; requests without a matching key go to `baseline_host:baseline_port`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: names.DnsLabel
    service: names.DnsLabel
    port: Port
    listen_address: Host = "0.0.0.0"  # noqa: S104 - a router serves the Pod network
    listen_port: ListenPort
    baseline_host: Host
    baseline_port: Port

    @property
    def baseline(self) -> ServiceRef:
        return ServiceRef(self.namespace, self.service)

    @property
    def name(self) -> str:
        """The name of the listener and route configuration serving this front."""
        return f"front|{self.namespace}|{self.service}|{self.port}"


_FRONTS = TypeAdapter(list[Front])


class InvalidFronts(ValueError):
    """The node metadata does not describe fronts the route server can serve."""


def fronts_from_metadata(metadata: dict[str, Any]) -> list[Front]:
    """The fronts in an Envoy node's metadata (a JSON-like dict); InvalidFronts if unusable."""
    raw = metadata.get(NODE_METADATA_FIELD)
    if raw is None:
        raise InvalidFronts(f"node metadata has no {NODE_METADATA_FIELD!r}")
    try:
        fronts = _FRONTS.validate_python(raw)
    except ValueError as error:
        raise InvalidFronts(f"{NODE_METADATA_FIELD!r} does not parse: {error}") from error
    seen = set()
    for front in fronts:
        if front.name in seen:
            raise InvalidFronts(f"front {front.name} appears twice")
        seen.add(front.name)
    return fronts


def fronts_to_metadata(fronts: list[Front]) -> list[dict[str, Any]]:
    return [front.model_dump() for front in fronts]


#: The node-metadata field that makes a node the preview gateway (core/gateway.py).
GATEWAY_METADATA_FIELD = "sandboxmesh.io/gateway"


class Gateway(BaseModel):
    """What a gateway node says of itself in its metadata: where it listens, and the TLS
    certificate files it serves (mounted from a Secret) when it terminates TLS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen_address: Host = "0.0.0.0"  # noqa: S104 - the gateway serves the Pod network
    listen_port: ListenPort
    tls_certificate_file: str | None = None
    tls_key_file: str | None = None


class InvalidGateway(ValueError):
    """The node metadata's gateway field does not parse."""


def gateway_from_metadata(metadata: dict[str, Any]) -> Gateway | None:
    raw = metadata.get(GATEWAY_METADATA_FIELD)
    if raw is None:
        return None
    try:
        gateway = Gateway.model_validate(raw)
    except ValueError as error:
        raise InvalidGateway(f"{GATEWAY_METADATA_FIELD!r} does not parse: {error}") from error
    if (gateway.tls_certificate_file is None) != (gateway.tls_key_file is None):
        raise InvalidGateway("a TLS gateway needs both a certificate and a key file")
    return gateway
