"""`make demo`'s control plane: SQLite, a bootstrapped organisation, a token that works."""

from __future__ import annotations

from pathlib import Path

import httpx

from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.dev.demo import controlplane as demo_controlplane
from sandboxmesh.dev.processes import free_port


def test_the_demo_control_plane_starts_bootstrapped_and_stops(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    workdir.mkdir()
    with demo_controlplane.control_plane(workdir, host="127.0.0.1", port=free_port()) as plane:
        with ControlPlaneClient(ClientConfig(url=plane.url, token=plane.token)) as client:
            me = client.send(endpoints.whoami())
            clusters = client.send(endpoints.list_clusters())
        assert (me.email, me.role, me.organization) == ("demo@example.com", "owner", "demo")
        assert [c.name for c in clusters.items] == ["local"]
        assert plane.cluster_token.startswith("smc_")
        assert (workdir / "controlplane.db").exists()
        url = plane.url
    try:
        httpx.get(f"{url}/healthz", timeout=2)
        stopped = False
    except httpx.TransportError:
        stopped = True
    assert stopped, "the control plane outlived the demo"
