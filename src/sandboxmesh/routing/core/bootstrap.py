"""Envoy's bootstrap for a SandboxMesh router: who it is, what it fronts, where its ADS server is.

Pure, returning the JSON-ready dict Envoy reads with `-c` (or `--config-yaml`), so the tests,
the benchmark, the demo and the Helm chart all start Envoy from the same document. Everything
else (listeners, routes, clusters) comes over ADS from the route server.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sandboxmesh.routing.core import fronts as fronts_module
from sandboxmesh.routing.core.fronts import GATEWAY_METADATA_FIELD, Front, Gateway

XDS_CLUSTER = "sandboxmesh-xds"
# The baggage regex grows with the key (each character may be percent-encoded); Envoy's
# default RE2 program-size limit is sized for short patterns, so it is raised here. Routes
# would otherwise be refused (NACKed) rather than served.
RE2_MAX_PROGRAM_SIZE = 4096


@dataclass(frozen=True)
class AdsServer:
    host: str
    port: int


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def envoy_bootstrap(
    *,
    node_id: str,
    node_cluster: str,
    fronts: list[Front],
    ads: AdsServer,
    admin_address: str = "127.0.0.1",
    admin_port: int = 9901,
    gateway: Gateway | None = None,
) -> dict[str, Any]:
    """The bootstrap of an Envoy serving `fronts`, configured by the ADS server `ads`; with
    `gateway`, the preview gateway too (then `fronts` is usually empty)."""
    ads_source = {"ads": {}, "resource_api_version": "V3"}
    metadata: dict[str, Any] = {
        fronts_module.NODE_METADATA_FIELD: fronts_module.fronts_to_metadata(fronts)
    }
    if gateway is not None:
        metadata[GATEWAY_METADATA_FIELD] = gateway.model_dump(exclude_none=True)
    return {
        "node": {"id": node_id, "cluster": node_cluster, "metadata": metadata},
        "admin": {
            "address": {"socket_address": {"address": admin_address, "port_value": admin_port}}
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
            },
            "lds_config": ads_source,
            "cds_config": ads_source,
        },
        "static_resources": {
            "clusters": [
                {
                    "name": XDS_CLUSTER,
                    "type": "STATIC" if _is_ip(ads.host) else "STRICT_DNS",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": XDS_CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": ads.host,
                                                    "port_value": ads.port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ]
        },
        "layered_runtime": {
            "layers": [
                {
                    "name": "sandboxmesh",
                    "static_layer": {
                        "re2.max_program_size.error_level": RE2_MAX_PROGRAM_SIZE,
                        "re2.max_program_size.warn_level": RE2_MAX_PROGRAM_SIZE,
                    },
                }
            ]
        },
    }
