"""The control plane: a multi-tenant ASGI service storing sandbox intent and agent status.

Public face: `create_app(settings)` and `Settings`.
"""

from sandboxmesh.controlplane.app import create_app
from sandboxmesh.controlplane.settings import Settings

__all__ = ["Settings", "create_app"]
