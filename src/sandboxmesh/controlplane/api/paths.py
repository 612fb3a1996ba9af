"""The API's path parameters: the portal's too, defined once in `web.paths`."""

from sandboxmesh.controlplane.web.paths import (
    ClusterName,
    EmailPath,
    PrefixPath,
    SandboxName,
    TeamName,
)

__all__ = ["ClusterName", "EmailPath", "PrefixPath", "SandboxName", "TeamName"]
