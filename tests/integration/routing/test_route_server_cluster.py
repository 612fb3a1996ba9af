"""The route server watching real Sandbox objects in the local cluster, with real Envoy in front.

The test plays the operator (creates Sandbox objects and fork Services, writes their status
through the status subresource); backends are local processes reached via the address map.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lightkube import Client
from tests.integration.routing.conftest import StartDataPlane
from tests.integration.routing.operator_double import OperatorDouble
from tests.support.eventually import eventually

from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.spec import Phase

pytestmark = pytest.mark.cluster


@pytest.fixture
def operator_double(kube_client: Client, namespace: str) -> Iterator[OperatorDouble]:
    double = OperatorDouble(kube_client, namespace)
    try:
        yield double
    finally:
        double.cleanup()


def baggage(key: str) -> list[tuple[str, str]]:
    return [("baggage", f"userId=alice,sandboxmesh-routing-key={key};src=test")]


def test_routes_follow_sandbox_objects(
    kube_target: KubeTarget,
    namespace: str,
    operator_double: OperatorDouble,
    start_data_plane: StartDataPlane,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    sbx_a, sbx_b = f"rt-a-{suffix}", f"rt-b-{suffix}"
    key_a, key_b = f"a{suffix}00000", f"b{suffix}00000"
    plane = start_data_plane(
        ["checkout", "cart"],
        [f"checkout-{sbx_a}", f"cart-{sbx_a}", f"checkout-{sbx_b}"],
        kubeconfig=kube_target.kubeconfig,
        namespace=namespace,
    )
    eventually(lambda: plane.http("/readyz").status_code == 200, timeout=10, what="synced")

    operator_double.create_sandbox(sbx_a, key_a, ["checkout", "cart"])
    operator_double.create_sandbox(sbx_b, key_b, ["checkout"])
    # Provisioning: A's checkout fork is ready, its cart fork is not; B has no status yet.
    operator_double.write_status(sbx_a, key_a, {"checkout": True, "cart": False})
    eventually(
        lambda: plane.served_by("checkout", baggage(key_a)) == f"checkout-{sbx_a}",
        timeout=10,
        what="A's checkout fork routed while A is still provisioning",
    )
    assert plane.served_by("cart", baggage(key_a)) == "cart"
    assert plane.served_by("checkout", baggage(key_b)) == "checkout"

    operator_double.write_status(sbx_a, key_a, {"checkout": True, "cart": True})
    operator_double.write_status(sbx_b, key_b, {"checkout": True})
    eventually(
        lambda: plane.served_by("cart", baggage(key_a)) == f"cart-{sbx_a}",
        timeout=10,
        what="A's cart fork routed once ready",
    )
    eventually(
        lambda: (
            plane.served_by("checkout", [("x-sandboxmesh-routing-key", key_b)])
            == f"checkout-{sbx_b}"
        ),
        timeout=10,
        what="B's checkout fork routed",
    )
    assert plane.served_by("checkout") == "checkout"
    assert plane.served_by("checkout", baggage("unknown000key")) == "checkout"
    assert plane.served_by("cart", baggage(key_b)) == "cart"  # B forks checkout only

    table = plane.http("/v1/routes").json()
    mine = {
        (b["service"], r["routingKey"]): r["forkService"]
        for b in table["baselines"]
        if b["namespace"] == namespace
        for r in b["routes"]
    }
    assert mine == {
        ("checkout", key_a): f"checkout-{sbx_a}",
        ("checkout", key_b): f"checkout-{sbx_b}",
        ("cart", key_a): f"cart-{sbx_a}",
    }
    missing = plane.http(f"/v1/routes/{namespace}/payments")
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_routes"

    # Terminating withdraws A's routes at once; deleting B withdraws B's.
    operator_double.write_status(sbx_a, key_a, {"checkout": True, "cart": True}, Phase.TERMINATING)
    operator_double.delete_sandbox(sbx_b)
    eventually(
        lambda: (
            plane.served_by("checkout", baggage(key_a)) == "checkout"
            and plane.served_by("cart", baggage(key_a)) == "cart"
            and plane.served_by("checkout", baggage(key_b)) == "checkout"
        ),
        timeout=10,
        what="routes withdrawn",
    )
    metrics = plane.http("/metrics").text
    assert "sandboxmesh_xds_acks_total" in metrics
    assert "sandboxmesh_watch_events_total" in metrics


COMMAND = [sys.executable, "-m", "sandboxmesh", "route-server"]


def test_route_server_command_refuses_bad_input(tmp_path: Path) -> None:
    bad_map = tmp_path / "map.json"
    bad_map.write_text('{"shop/checkout": "nowhere"}')
    for args, message in [
        (["--routing-key-header", "bad header"], "not an HTTP header name"),
        (["--address-map", str(bad_map)], "NAMESPACE/SERVICE:PORT"),
        (["--kubeconfig", str(tmp_path / "missing")], "no usable Kubernetes configuration"),
    ]:
        result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert message in result.stderr


def test_route_server_command_errors_are_one_line() -> None:
    result = subprocess.run(
        [*COMMAND, "--routing-key-header", "bad header"], capture_output=True, text=True, timeout=60
    )
    assert result.stderr.strip().splitlines() == ["error: not an HTTP header name: 'bad header'"]


def test_route_server_command_serves_until_terminated(kube_target: KubeTarget) -> None:
    process = subprocess.Popen(
        [
            *COMMAND,
            "--kubeconfig",
            str(kube_target.kubeconfig),
            "--xds-host",
            "127.0.0.1",
            "--xds-port",
            "0",
            "--http-port",
            "0",
            "--log-level",
            "INFO",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            if "HTTP on port" in line:
                port = int(line.rsplit(" ", 1)[-1])
                break
        assert port, "the route server did not report its ports"
        eventually(
            lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
            timeout=15,
            what="route server ready",
        )
        assert httpx.get(f"http://127.0.0.1:{port}/v1/routes").json()["synced"] is True
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0
