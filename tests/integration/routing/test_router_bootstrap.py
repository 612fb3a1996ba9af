"""The bootstrap a router Deployment mounts is one real Envoy accepts (`--mode validate`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sandboxmesh.dev.local_routing.envoy_process import envoy_binary
from sandboxmesh.routing.core import routers


def test_the_router_bootstrap_validates_with_real_envoy(tmp_path: Path) -> None:
    service = {
        "metadata": {"name": "checkout", "namespace": "shop", "uid": "u-1", "resourceVersion": "7"},
        "spec": {
            "selector": {"app": "checkout"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "admin-ui", "port": 8443, "targetPort": 8443},
            ],
        },
    }
    _copy, config, deployment, _budget = routers.router_objects(service, routers.RouterSettings())
    path = tmp_path / routers.BOOTSTRAP_FILE
    path.write_text(config["data"][routers.BOOTSTRAP_FILE])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = [
        a.replace(f"/etc/sandboxmesh/{routers.BOOTSTRAP_FILE}", str(path))
        for a in container["args"]
    ]
    args = [a.replace("$(POD_NAME)", "checkout-sandboxmesh-router-0") for a in args]
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OK" in result.stdout
    # And a broken one is refused, so the check above means something.
    path.write_text(config["data"][routers.BOOTSTRAP_FILE].replace('"GRPC"', '"NOPE"'))
    broken = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode != 0
