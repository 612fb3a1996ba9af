"""How Envoy reaches a fork Service: its cluster DNS name, unless a local run maps it elsewhere.

In a cluster, a fork Service is reached by its DNS name (`name.namespace.svc.<domain>`); its
ClusterIP balances over the fork's Pods, so the route server needs no EndpointSlice access.

Local runs (tests, `sandboxmesh demo`) have no cluster DNS and KWOK Pods have no network:
the workloads are local processes. An `AddressMap` (Service and port -> local address) is the
only seam for that; it is test and demo infrastructure and is empty in production.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandboxmesh.routing.core.table import ServiceRef


@dataclass(frozen=True, order=True)
class Address:
    host: str
    port: int

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


AddressMap = Mapping[tuple[ServiceRef, int], Address]


class InvalidAddressMap(ValueError):
    """An address map file or entry that does not parse."""


def parse_address(text: str) -> Address:
    """`HOST:PORT` (IPv6 hosts in brackets) as an Address; InvalidAddressMap if it is not."""
    return _address(text)


def _address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidAddressMap(f"not HOST:PORT: {text!r}")
    return Address(host.strip("[]"), int(port))


def parse_address_map(entries: Mapping[str, str]) -> dict[tuple[ServiceRef, int], Address]:
    """Entries ``"namespace/service:port" -> "host:port"`` as an address map."""
    parsed: dict[tuple[ServiceRef, int], Address] = {}
    for source, target in entries.items():
        service, sep, port = source.rpartition(":")
        namespace, slash, name = service.partition("/")
        if not sep or not slash or not namespace or not name or not port.isdigit():
            raise InvalidAddressMap(f"not NAMESPACE/SERVICE:PORT: {source!r}")
        parsed[(ServiceRef(namespace, name), int(port))] = _address(target)
    return parsed


def load_address_map(path: Path) -> dict[tuple[ServiceRef, int], Address]:
    """A JSON object file of `parse_address_map` entries."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidAddressMap(f"cannot read address map {path}: {error}") from error
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
    ):
        raise InvalidAddressMap(f"address map {path} must be a JSON object of strings")
    return parse_address_map(entries)


@dataclass(frozen=True)
class ServiceAddresses:
    """Where a Service port is reached: `overrides` first (local runs), else cluster DNS.

    Local runs turn `cluster_dns` off: there, a Service without an override has no address
    at all (its process is not running yet, or not any more), and a fork without an address
    gets no route, so its key's requests go to the baseline instead of failing.
    """

    cluster_domain: str = "cluster.local"
    overrides: AddressMap = field(default_factory=dict)
    cluster_dns: bool = True

    def address(self, service: ServiceRef, port: int) -> Address | None:
        override = self.overrides.get((service, port))
        if override is not None:
            return override
        if not self.cluster_dns:
            return None
        return Address(f"{service.name}.{service.namespace}.svc.{self.cluster_domain}", port)
