"""Names and labels of the objects the operator generates (docs/resource-model.md).

Every name is a DNS-1035 label of at most 63 characters, derived only from the baseline's
name and the sandbox's name, so a repeated reconcile computes the same names and server-side
apply updates in place instead of duplicating.
"""

from __future__ import annotations

import hashlib

from sandboxmesh.spec.crd import LABEL_MANAGED_BY, LABEL_SANDBOX, MANAGED_BY

#: Selects the Pods of one fork; unique per (sandbox, baseline).
LABEL_FORK = "sandboxmesh.io/fork"
#: On fork Services: the baseline Service whose traffic may be diverted to this one.
LABEL_BASELINE_SERVICE = "sandboxmesh.io/baseline-service"
#: On fork Deployments: the baseline Deployment (namespace/name) this one copies.
ANNOTATION_BASELINE = "sandboxmesh.io/baseline"

ENV_SANDBOX_NAME = "SANDBOXMESH_SANDBOX_NAME"
ENV_ROUTING_KEY = "SANDBOXMESH_ROUTING_KEY"

FIELD_MANAGER = "sandboxmesh-operator"
FINALIZER = "sandboxmesh.io/operator"

_MAX = 63
_MARKER = "-sbx-"


def fork_object_name(baseline: str, sandbox: str) -> str:
    """`<baseline>-sbx-<sandbox>`, shortened with a hash when it would pass 63 characters.

    The baseline part comes first: it is a valid Service name, so the result starts with a
    letter as DNS-1035 requires even when the sandbox name starts with a digit.
    """
    name = f"{baseline}{_MARKER}{sandbox}"
    if len(name) <= _MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = _MAX - len(_MARKER) - len(sandbox) - len(digest) - 1
    return f"{baseline[:keep].rstrip('-')}-{digest}{_MARKER}{sandbox}"


def managed_labels(sandbox: str) -> dict[str, str]:
    """The labels every generated object carries (DESIGN.md §4)."""
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_SANDBOX: sandbox}


def fork_selector(sandbox: str, fork_name: str) -> dict[str, str]:
    """The selector of a fork's Pods: labels no baseline object uses."""
    return {LABEL_SANDBOX: sandbox, LABEL_FORK: fork_name}
