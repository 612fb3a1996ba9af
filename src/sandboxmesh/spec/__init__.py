"""Shared contract models: the sandbox spec and status, and the CRD generated from them; the
management API's bodies are in `sandboxmesh.spec.api`, the agent protocol's in
`sandboxmesh.spec.protocol`.

Free of SQL and Kubernetes client imports (an import-linter contract checks it), so every
component can depend on it.
"""

from sandboxmesh.spec.sandbox import (
    Customizations,
    EnvCustomization,
    EnvOperation,
    Fork,
    ForkRef,
    ImageCustomization,
    SandboxManifest,
    SandboxSpec,
    Ttl,
    TtlOffset,
)
from sandboxmesh.spec.status import (
    BaselineSnapshot,
    Condition,
    ConditionType,
    ForkStatus,
    ObjectRef,
    Phase,
    Reason,
    SandboxStatus,
)

__all__ = [
    "BaselineSnapshot",
    "Condition",
    "ConditionType",
    "Customizations",
    "EnvCustomization",
    "EnvOperation",
    "Fork",
    "ForkRef",
    "ForkStatus",
    "ImageCustomization",
    "ObjectRef",
    "Phase",
    "Reason",
    "SandboxManifest",
    "SandboxSpec",
    "SandboxStatus",
    "Ttl",
    "TtlOffset",
]
