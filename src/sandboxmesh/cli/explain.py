"""The explain view of `sandboxmesh sandbox get`: why a sandbox is (not) Ready, in words.

A pure function of the sandbox as the API returns it, so it is the same text for a sandbox
whatever reported its status, and a unit test can pin it.
"""

from __future__ import annotations

from sandboxmesh.spec.api import SandboxPublic


def explain(sandbox: SandboxPublic) -> list[str]:
    """Lines telling the sandbox's state, its preview URLs (one a line), its conditions, and
    each fork with its objects."""
    status, name = sandbox.status, sandbox.name
    if sandbox.deleting:
        headline = f"{name} is being deleted: waiting for its cluster to remove it"
    elif status.ready:
        headline = f"{name} is Ready: requests carrying its routing key reach its forks"
    else:
        headline = f"{name} is {status.phase}, not Ready: {status.reason or 'no status yet'}"
        if status.message:
            headline += f": {status.message}"
    lines = [headline]
    observed = status.observed_generation
    if observed != sandbox.generation:
        lines.append(
            f"  the cluster has not yet reported on generation {sandbox.generation} "
            f"(last report: {observed if observed is not None else 'none'})"
        )
    if status.preview_urls:
        lines.append("preview URLs:")
        width = max(len(u.name) for u in status.preview_urls)
        for url in status.preview_urls:
            lines.append(f"  {url.name:<{width}}  {url.url}  ({url.access})")
    if status.conditions:
        lines.append("conditions:")
        width = max(len(c.type) for c in status.conditions)
        for condition in status.conditions:
            detail = condition.reason
            if condition.message:
                detail += f": {condition.message}"
            lines.append(f"  {condition.type:<{width}}  {condition.status}  {detail}")
    if status.forks:
        lines.append("forks:")
    for fork in status.forks:
        state = "ready" if fork.ready else "not ready"
        line = f"  {fork.fork_of}: {state} ({fork.ready_replicas}/1 replicas)"
        if fork.reason and not fork.ready:
            line += f", {fork.reason}"
            if fork.message:
                line += f": {fork.message}"
        lines.append(line)
        for obj in fork.objects:
            lines.append(f"    {obj.kind} {obj.namespace}/{obj.name}")
    return lines
