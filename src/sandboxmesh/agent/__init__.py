"""The agent: the only bridge between a cluster and the control plane.

It long-polls its cluster's assignments with the cluster token and server-side applies them as
`Sandbox` objects (`sync.AssignmentPoller`), watches those objects and reports their status in
coalesced batches (`sync.StatusWatcher`, `reporter.StatusReporter`), and handles token
rotation and revocation (`session.ControlPlaneSession`). The Sandbox objects are its state.
With a route server URL it also relays route traces the control plane asks for
(`traces.TraceRelay`).
"""

from sandboxmesh.agent.runner import AgentStartError, run_agent
from sandboxmesh.agent.settings import AgentSettings, SyncSettings, TokenSettings

__all__ = ["AgentSettings", "AgentStartError", "SyncSettings", "TokenSettings", "run_agent"]
