"""The anchor of the routing benchmark: Envoy with one static route, no xDS.

Same binary, same worker count, same backend and load generator as the routers the route
server configures; what our routing adds to a request is measured against this, so the
cost of the proxy hop itself is out of the figure (issue 16, §1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandboxmesh.dev.local_routing.envoy_process import EnvoyProcess

LISTENER = "static"
CLUSTER = "backend"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_MANAGER = (
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)


def _socket(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def static_bootstrap(backend_port: int) -> dict[str, Any]:
    """A listener on a free port whose one route sends every request to the backend."""
    manager = {
        "@type": _MANAGER,
        "stat_prefix": LISTENER,
        "codec_type": "AUTO",
        "route_config": {
            "name": LISTENER,
            "virtual_hosts": [
                {
                    "name": LISTENER,
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "route": {"cluster": CLUSTER, "timeout": "0s"},
                        }
                    ],
                }
            ],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "node": {"id": "static-anchor", "cluster": "bench"},
        "admin": {"address": _socket("127.0.0.1", 0)},
        "static_resources": {
            "listeners": [
                {
                    "name": LISTENER,
                    "address": _socket("127.0.0.1", 0),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": CLUSTER,
                    "type": "STATIC",
                    "connect_timeout": "2s",
                    "load_assignment": {
                        "cluster_name": CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": _socket("127.0.0.1", backend_port)}}
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }


def envoy_pid(workdir: Path) -> int:
    """The pid of the Envoy started in `workdir` (its command line names the config there)."""
    config = str(workdir / "envoy.json").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if config in argv:
                return int(entry.name)
    raise LookupError(f"no Envoy running from {workdir}")


def cpu_seconds(pid: int) -> float:
    """CPU time all threads of `pid` have run so far (schedstat: nanoseconds, unlike the
    10 ms ticks of /proc/PID/stat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


@contextlib.contextmanager
def static_envoy(backend_port: int, workdir: Path, concurrency: int = 1) -> Iterator[int]:
    """Start the anchor; yields the port it listens on."""
    with EnvoyProcess(static_bootstrap(backend_port), workdir, concurrency=concurrency) as envoy:
        envoy.wait_ready(30)
        yield envoy.listener_ports()[LISTENER]
