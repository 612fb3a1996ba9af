"""The explain view of `sandboxmesh sandbox get`: why a sandbox is (not) Ready, in words.

A pure function of the sandbox as the API returns it, so it is the same text for a sandbox
whatever reported its status, and a unit test can pin it.
"""

from __future__ import annotations

from typing import Any


def explain(sandbox: dict[str, Any]) -> list[str]:
    """Lines telling the sandbox's state, its conditions, and each fork with its objects."""
    status = sandbox.get("status") or {}
    name = sandbox.get("name", "?")
    phase, reason, message = status.get("phase"), status.get("reason"), status.get("message")
    if sandbox.get("deleting"):
        headline = f"{name} is being deleted: waiting for its cluster to remove it"
    elif status.get("ready"):
        headline = f"{name} is Ready: requests carrying its routing key reach its forks"
    else:
        headline = f"{name} is {phase or 'Pending'}, not Ready: {reason or 'no status yet'}"
        if message:
            headline += f": {message}"
    generation, observed = sandbox.get("generation"), status.get("observedGeneration")
    lines = [headline]
    if generation is not None and observed != generation:
        lines.append(
            f"  the cluster has not yet reported on generation {generation} "
            f"(last report: {observed if observed is not None else 'none'})"
        )
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("conditions:")
        width = max(len(c.get("type", "")) for c in conditions)
        for condition in conditions:
            detail = condition.get("reason") or ""
            if condition.get("message"):
                detail += f": {condition['message']}"
            lines.append(
                f"  {condition.get('type', ''):<{width}}  {condition.get('status')}  {detail}"
            )
    forks = status.get("forks") or []
    if forks:
        lines.append("forks:")
    for fork in forks:
        ref = fork.get("forkOf") or {}
        target = f"{ref.get('kind', 'Deployment')}/{ref.get('namespace')}/{ref.get('name')}"
        state = "ready" if fork.get("ready") else "not ready"
        line = f"  {target}: {state} ({fork.get('readyReplicas', 0)}/1 replicas)"
        if fork.get("reason") and not fork.get("ready"):
            line += f", {fork['reason']}"
            if fork.get("message"):
                line += f": {fork['message']}"
        lines.append(line)
        for obj in fork.get("objects") or []:
            lines.append(f"    {obj.get('kind')} {obj.get('namespace')}/{obj.get('name')}")
    return lines
