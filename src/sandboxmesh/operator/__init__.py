"""The operator: reconciles Sandbox objects into forks of baseline workloads.

Pure computations live in `forks` (baseline + Sandbox -> desired objects) and `status`
(observations -> status); `reconcile` applies them with server-side apply, `handlers` wires
kopf's watches to it, and `runner` adds leader election, probes and metrics.
"""

from sandboxmesh.operator.previews import PreviewSettings
from sandboxmesh.operator.runner import EXIT_LEADERSHIP_LOST, EXIT_OK, run_operator
from sandboxmesh.operator.settings import (
    ForkingSettings,
    LeaderElectionSettings,
    OperatorSettings,
    ProbeSettings,
)

__all__ = [
    "EXIT_LEADERSHIP_LOST",
    "EXIT_OK",
    "ForkingSettings",
    "LeaderElectionSettings",
    "OperatorSettings",
    "PreviewSettings",
    "ProbeSettings",
    "run_operator",
]
