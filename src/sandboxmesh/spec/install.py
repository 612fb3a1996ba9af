"""How to install the in-cluster parts (the Helm chart) for a registered cluster.

The one place that says it: the CLI prints it after `sandboxmesh cluster register`, and the
portal shows it beside the token on the cluster's page.
"""

from __future__ import annotations

AGENT_NAMESPACE = "sandboxmesh-system"
AGENT_TOKEN_SECRET = "sandboxmesh-agent-token"  # noqa: S105 (a Secret's name)


def install_command(url: str, token: str) -> str:
    """How to install the agent into the cluster (the one place that says it)."""
    return (
        f"kubectl create namespace {AGENT_NAMESPACE}\n"
        f"kubectl -n {AGENT_NAMESPACE} create secret generic {AGENT_TOKEN_SECRET} "
        f"--from-literal=token={token}\n"
        f"helm install sandboxmesh deploy/helm/sandboxmesh --namespace {AGENT_NAMESPACE} "
        f"--create-namespace --set controlPlane.url={url} "
        f"--set agent.tokenSecret={AGENT_TOKEN_SECRET}"
    )
