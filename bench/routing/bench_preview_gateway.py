"""The preview gateway's added latency: public and authenticated previews against a keyed
request straight to the entry Service.

In one run: a local backend stands for the entry Service; the route server (in this process)
configures a real Envoy as the preview gateway with two hosts on that Service, one `public`
and one `authenticated` (a token signed here, ES256, sent in the gateway's cookie as a
signed-in browser sends it). Rounds alternate the three paths, so drifts of the machine hit
all of them; each path's figure is the median of its rounds.

Prints one JSON object. Usage: python bench/routing/bench_preview_gateway.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from http_load import Connection, backends, latency, request_bytes

from sandboxmesh.dev.local_routing.envoy_process import EnvoyProcess
from sandboxmesh.routing.core import gateway
from sandboxmesh.routing.core.bootstrap import AdsServer, envoy_bootstrap
from sandboxmesh.routing.core.fronts import Gateway
from sandboxmesh.routing.core.gateway import PreviewHost
from sandboxmesh.routing.core.preview_signin import PreviewKeys
from sandboxmesh.routing.core.table import RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses
from sandboxmesh.routing.server import RouteServer, RouteServerSettings, RouteServerThread
from sandboxmesh.spec import preview
from sandboxmesh.spec.preview import Access

KEY = "benchkey00000000"
ENTRY = ServiceRef("bench", "frontend")
PUBLIC = preview.preview_host("shop", KEY, "preview.test")
PRIVATE = preview.preview_host("web", KEY, "preview.test")
ISSUER = "https://controlplane.test"


def _keys() -> tuple[PreviewKeys, str]:
    """Keys the gateway checks tokens with, and a browser's token for the private host."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk |= {"kid": "bench", "alg": "ES256", "use": "sig"}
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISSUER, "aud": PRIVATE, "sub": "bench", "iat": now, "exp": now + 3600},
        private,
        algorithm="ES256",
        headers={"kid": "bench"},
    )
    keys = PreviewKeys(ISSUER, f"{ISSUER}/portal/preview/authorize", json.dumps({"keys": [jwk]}))
    return keys, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    args = parser.parse_args()
    rounds, count = (3, 2000) if args.quick else (7, 5000)
    keys, token = _keys()
    hosts = tuple(
        PreviewHost(host, "bench", KEY, ENTRY, 80, access, f"http://{host}")
        for host, access in ((PUBLIC, Access.PUBLIC), (PRIVATE, Access.AUTHENTICATED))
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp,
        backends(["entry"]) as ports,
    ):
        address = Address("127.0.0.1", ports["entry"])
        settings = RouteServerSettings(addresses=ServiceAddresses(overrides={(ENTRY, 80): address}))
        with RouteServerThread(settings) as server:

            def configure(s: RouteServer) -> None:
                s.state.set_table(RouteTable(), previews=hosts)
                s.state.set_preview_keys(keys)

            server.read(configure)
            document = envoy_bootstrap(
                node_id="gateway", node_cluster="bench", fronts=[],
                ads=AdsServer("127.0.0.1", server.xds_port), admin_port=0,
                gateway=Gateway(listen_address="127.0.0.1", listen_port=0),
            )  # fmt: skip
            with EnvoyProcess(document, Path(tmp)) as envoy:
                deadline = time.monotonic() + 30
                while gateway.NAME not in envoy.listener_ports():
                    if time.monotonic() > deadline:
                        raise TimeoutError("the gateway's listener")
                    time.sleep(0.05)
                port = envoy.listener_ports()[gateway.NAME]
                paths: dict[str, tuple[int, str, dict[str, str]]] = {
                    "direct_keyed": (
                        ports["entry"], "bench", {"baggage": f"sandboxmesh-routing-key={KEY}"}
                    ),
                    "public": (port, PUBLIC, {}),
                    "authenticated": (
                        port, PRIVATE, {"cookie": f"{preview.COOKIE_NAME}={token}"}
                    ),
                }  # fmt: skip
                # Each path answers the backend's own body before anything is measured.
                for name, (target, authority, headers) in paths.items():
                    request = request_bytes(headers, authority)
                    deadline = time.monotonic() + 30
                    while b"servedBy" not in Connection(target).get(request):
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{name} not served")
                        time.sleep(0.05)
                samples: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
                for _ in range(rounds):
                    for name, (target, authority, headers) in paths.items():
                        samples[name].append(latency(target, headers, count, authority=authority))
    result: dict[str, Any] = {"rounds": rounds, "requests_per_round": count}
    medians = {
        name: {q: round(statistics.median(s[q] for s in runs), 1) for q in ("p50_us", "p99_us")}
        for name, runs in samples.items()
    }
    result["latency_us"] = medians
    direct = medians["direct_keyed"]
    result["added_over_direct_us"] = {
        name: {q: round(medians[name][q] - direct[q], 1) for q in ("p50_us", "p99_us")}
        for name in ("public", "authenticated")
    }
    result["authenticated_over_public_p50"] = round(
        medians["authenticated"]["p50_us"] / medians["public"]["p50_us"], 3
    )
    with open("/proc/loadavg") as load:
        result["load_average"] = load.read().split()[:3]
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
