"""The shared Kubernetes layer: what every component that talks to the API server needs.

- `errors`: our error types over the client library's, and the one tuple of its errors;
- `calls`: a get or a delete where the object's absence is an answer (`get_or_none`);
- `list_watch`: the one list-then-watch loop (backoff, periodic resync, restart on failure);
- `resources`: the `Sandbox` resource (defined here only) and `to_dict` for any object.

It sits below the operator, the agent, the route server and the local node, and knows none
of them (an import-linter contract in pyproject.toml keeps it so). Inside the project, import
the package (`from sandboxmesh import kube`), so a call reads `kube.list_then_watch(...)` or
`kube.errors.wrap(error)`.
"""

from sandboxmesh.kube.calls import delete_if_exists, get_or_none
from sandboxmesh.kube.errors import (
    CLIENT_ERRORS,
    KubeApiError,
    KubeConnectionError,
    KubeError,
)
from sandboxmesh.kube.list_watch import ListWatchSettings, Selection, list_then_watch
from sandboxmesh.kube.resources import RouteGroup, Sandbox, to_dict

__all__ = [
    "CLIENT_ERRORS",
    "KubeApiError",
    "KubeConnectionError",
    "KubeError",
    "ListWatchSettings",
    "RouteGroup",
    "Sandbox",
    "Selection",
    "delete_if_exists",
    "get_or_none",
    "list_then_watch",
    "to_dict",
]
