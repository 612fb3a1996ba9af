"""Pure computation of a fork: baseline objects + Sandbox -> the desired objects.

No I/O here: the reconciler reads the baseline and the namespace's Services, calls
`desired_fork`, and applies what it returns with server-side apply.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandboxmesh.operator import naming
from sandboxmesh.spec import BaselineSnapshot, EnvOperation, Fork, ObjectRef, Reason
from sandboxmesh.spec.crd import API_VERSION, KIND

SUPPORTED_KINDS = frozenset({"Deployment"})

Manifest = dict[str, Any]


class ForkError(Exception):
    """A fork that cannot be computed; `reason` is one of `sandboxmesh.spec.Reason`."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class SandboxIdentity:
    """What every generated object needs to know about its Sandbox."""

    name: str
    uid: str
    routing_key: str

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class DesiredFork:
    deployment: Manifest
    services: list[Manifest]
    snapshot: BaselineSnapshot

    def object_refs(self) -> list[ObjectRef]:
        refs = [_ref(self.deployment)]
        refs += [_ref(s) for s in self.services]
        return refs


def _ref(manifest: Manifest) -> ObjectRef:
    metadata = manifest["metadata"]
    baseline = metadata.get("labels", {}).get(naming.LABEL_BASELINE_SERVICE)
    if manifest["kind"] == "Deployment":
        baseline = metadata["annotations"][naming.ANNOTATION_BASELINE].split("/", 1)[1]
    return ObjectRef(
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        namespace=metadata["namespace"],
        name=metadata["name"],
        baseline=baseline,
    )


def check_supported(fork: Fork, allowed_namespaces: frozenset[str] | None) -> None:
    """Errors that need no cluster read: an unsupported kind, a namespace not allowed."""
    if fork.fork_of.kind not in SUPPORTED_KINDS:
        raise ForkError(
            Reason.UNSUPPORTED_KIND,
            f"{fork.fork_of}: kind {fork.fork_of.kind} cannot be forked "
            f"(supported: {', '.join(sorted(SUPPORTED_KINDS))})",
        )
    if allowed_namespaces is not None and fork.fork_of.namespace not in allowed_namespaces:
        raise ForkError(
            Reason.NAMESPACE_NOT_ALLOWED,
            f"{fork.fork_of}: namespace {fork.fork_of.namespace} is not one the operator may "
            f"fork in (allowed: {', '.join(sorted(allowed_namespaces)) or 'none'})",
        )


def pod_template_hash(baseline: Manifest) -> str:
    """A stable digest of the baseline's Pod template, to tell when it has changed."""
    template = baseline["spec"]["template"]
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Service selector picks Pods with `labels` (an empty selector picks none)."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def desired_fork(
    sandbox: SandboxIdentity,
    fork: Fork,
    baseline: Manifest,
    services: Sequence[Manifest],
) -> DesiredFork:
    """The fork Deployment and Services for one fork of a sandbox."""
    namespace = fork.fork_of.namespace
    fork_name = naming.fork_object_name(fork.fork_of.name, sandbox.name)
    selector = naming.fork_selector(sandbox.name, fork_name)
    template = copy.deepcopy(baseline["spec"]["template"])
    baseline_pod_labels: dict[str, str] = template.get("metadata", {}).get("labels", {}) or {}
    selecting = [s for s in services if selects(s["spec"].get("selector"), baseline_pod_labels)]

    template.setdefault("metadata", {})
    template["metadata"]["labels"] = _fork_pod_labels(
        baseline_pod_labels, baseline, services, sandbox.name, selector
    )
    _customize(template["spec"], fork, sandbox)

    metadata = {
        "name": fork_name,
        "namespace": namespace,
        "labels": {**naming.managed_labels(sandbox.name), naming.LABEL_FORK: fork_name},
        "annotations": {naming.ANNOTATION_BASELINE: f"{namespace}/{fork.fork_of.name}"},
        "ownerReferences": [sandbox.owner_reference()],
    }
    spec: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "template": template,
    }
    for carried in ("minReadySeconds", "progressDeadlineSeconds"):
        if carried in baseline["spec"]:
            spec[carried] = baseline["spec"][carried]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
    fork_services = [_fork_service(s, sandbox, selector) for s in selecting]
    meta = baseline["metadata"]
    snapshot = BaselineSnapshot(
        resource_version=meta["resourceVersion"],
        generation=int(meta.get("generation", 0)),
        pod_template_hash=pod_template_hash(baseline),
    )
    return DesiredFork(deployment, fork_services, snapshot)


def _fork_pod_labels(
    pod_labels: Mapping[str, str],
    baseline: Manifest,
    services: Sequence[Manifest],
    sandbox: str,
    selector: Mapping[str, str],
) -> dict[str, str]:
    # Keep the baseline's labels for dashboards and policies, except every key that a
    # baseline Service or the baseline Deployment selects on: then no baseline selector can
    # ever match a fork Pod, whatever values it asks for.
    selected_keys = set(baseline["spec"].get("selector", {}).get("matchLabels", {}) or {})
    for expression in baseline["spec"].get("selector", {}).get("matchExpressions", []) or []:
        selected_keys.add(expression["key"])
    for service in services:
        selected_keys.update(service["spec"].get("selector") or {})
    kept = {k: v for k, v in pod_labels.items() if k not in selected_keys}
    return {**kept, **naming.managed_labels(sandbox), **selector}


def _customize(pod_spec: dict[str, Any], fork: Fork, sandbox: SandboxIdentity) -> None:
    containers: dict[str, dict[str, Any]] = {c["name"]: c for c in pod_spec.get("containers", [])}

    def container_of(named: str | None) -> dict[str, Any]:
        if named is None:
            # Left out: the Pod's only container, as `kubectl set image` users expect.
            if len(containers) == 1:
                return next(iter(containers.values()))
            raise ForkError(
                Reason.CONTAINER_NOT_NAMED,
                f"{fork.fork_of}: a customization names no container, and the Pod has "
                f"{', '.join(sorted(containers)) or 'none'}; name one with `container`",
            )
        if named not in containers:
            raise ForkError(
                Reason.CONTAINER_NOT_FOUND,
                f"{fork.fork_of}: a customization names container {named!r}, but the Pod has "
                f"{', '.join(sorted(containers)) or 'no containers'}",
            )
        return containers[named]

    # Every name resolved before any change: an error leaves the template untouched.
    images = [(container_of(i.container), i) for i in fork.customizations.images]
    changes = [(container_of(e.container), e) for e in fork.customizations.env]
    for container, image in images:
        container["image"] = image.image
    for container, change in changes:
        env = container.setdefault("env", [])
        env[:] = [e for e in env if e.get("name") != change.name]
        if change.operation is EnvOperation.UPSERT:
            env.append({"name": change.name, "value": change.value})
    for container in containers.values():
        env = container.setdefault("env", [])
        reserved = {naming.ENV_SANDBOX_NAME, naming.ENV_ROUTING_KEY}
        env[:] = [e for e in env if e.get("name") not in reserved]
        env.append({"name": naming.ENV_SANDBOX_NAME, "value": sandbox.name})
        env.append({"name": naming.ENV_ROUTING_KEY, "value": sandbox.routing_key})


def _fork_service(
    baseline: Manifest, sandbox: SandboxIdentity, selector: Mapping[str, str]
) -> Manifest:
    name = baseline["metadata"]["name"]
    ports = [
        {k: port[k] for k in ("name", "port", "targetPort", "protocol", "appProtocol") if k in port}
        for port in baseline["spec"].get("ports", [])
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": naming.fork_object_name(name, sandbox.name),
            "namespace": baseline["metadata"]["namespace"],
            "labels": {
                **naming.managed_labels(sandbox.name),
                naming.LABEL_BASELINE_SERVICE: name,
            },
            "ownerReferences": [sandbox.owner_reference()],
        },
        "spec": {"type": "ClusterIP", "selector": dict(selector), "ports": ports},
    }
