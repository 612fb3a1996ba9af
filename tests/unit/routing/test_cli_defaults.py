"""The route-server command repeats one default so that parsing its options stays cheap."""

from __future__ import annotations

from sandboxmesh.cli.route_server import DEFAULT_ROUTER_IMAGE
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.routing.core.routers import RouterSettings


def test_the_router_image_default_is_the_routers_own() -> None:
    assert RouterSettings.image == DEFAULT_ROUTER_IMAGE


def test_the_router_image_built_here_is_the_default_one() -> None:
    assert RouterSettings.image == catalog.ROUTER_IMAGE
