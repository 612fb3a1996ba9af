"""The project's own resource for lightkube, and objects as the API server's JSON.

`Sandbox` is the one lightkube class of the `sandboxes.sandboxmesh.io` CRD, made from the
spec's group, version, kind and plural (`Sandbox.Status` is its status subresource): the
operator, the agent and the route server all read and write through it. `RouteGroup` is the
same for `routegroups.sandboxmesh.io` (the agent writes them, the route server their status).
"""

from __future__ import annotations

from typing import Any

from lightkube.generic_resource import create_global_resource

from sandboxmesh.spec import crd

Sandbox = create_global_resource(crd.GROUP, crd.VERSION, crd.KIND, crd.PLURAL)
#: The `routegroups.sandboxmesh.io` CRD's resource (`RouteGroup.Status`: its status).
RouteGroup = create_global_resource(
    crd.GROUP, crd.VERSION, crd.ROUTE_GROUP_KIND, crd.ROUTE_GROUP_PLURAL
)


def to_dict(obj: Any) -> dict[str, Any]:
    """A lightkube object (a model or a generic resource) as the API server's JSON.

    lightkube leaves `to_dict` untyped; this says what it returns, once.
    """
    body: dict[str, Any] = obj.to_dict()
    return body
