"""kopf handlers: thin triggers into the reconciler, registered on a registry of our own.

What triggers a sandbox's reconcile:
- the Sandbox itself: resume (operator start), its ADDED event (at once; kopf's create
  handler then only retries what failed), a spec update, a periodic resync;
- its fork Deployments: every event, so status follows the Pods turning ready (a watch,
  not a poll);
- its fork Pods, when one cannot pull its image or keeps crashing (their Deployment's status
  stays as it was while the kubelet retries);
- the baselines it forks: a baseline Deployment appearing, disappearing or changing its
  generation, and any baseline Service change in a namespace it forks in (indexes map
  both back to the sandboxes).
Deletion runs behind the operator's finalizer: not Ready first (routes withdrawn), a drain
pause, then every generated object deleted and waited for.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, cast

import kopf

from sandboxmesh import kube
from sandboxmesh.operator.reconcile import Reconciler
from sandboxmesh.operator.settings import ForkingSettings
from sandboxmesh.operator.status import pod_trouble
from sandboxmesh.spec.crd import GROUP, LABEL_MANAGED_BY, LABEL_SANDBOX, MANAGED_BY, PLURAL, VERSION

log = logging.getLogger(__name__)

_RETRY_DELAY = 5.0
#: A fork's snapshot of a baseline that was not there (see the `baselines` index).
MISSING = "missing"


def build_registry(reconciler: Reconciler, settings: ForkingSettings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    sandboxes: dict[str, Any] = {"group": GROUP, "version": VERSION, "plural": PLURAL}

    async def reconcile_quietly(name: str, *, full: bool = False) -> None:
        # The reconciler logs and counts a failure, and retries it with backoff, whatever
        # the trigger: no handler needs kopf's own retries.
        with contextlib.suppress(*kube.CLIENT_ERRORS):
            await reconciler.trigger(name, full=full)

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A registry of our own has none of kopf's default login handlers: $KUBECONFIG
        # (set by the runner from --kubeconfig) first, then the in-cluster service account.
        info = kopf.login_with_kubeconfig(**kwargs)
        return info if info is not None else kopf.login_with_service_account(**kwargs)

    @kopf.on.event(**sandboxes, id="sandbox-added", registry=registry)
    async def sandbox_added(type: str | None, name: str, meta: kopf.Meta, **_: Any) -> None:
        # At once: kopf's create handler comes a cycle later, after it has written its
        # finalizer and seen that write come back (a round trip and a watch event: about a
        # twentieth of a fork's whole start on a real node). Creation's retries stay there.
        if type == "ADDED" and not meta.get("deletionTimestamp"):
            await reconcile_quietly(name)

    @kopf.on.create(**sandboxes, id="create", registry=registry)
    async def sandbox_created(name: str, meta: kopf.Meta, **_: Any) -> None:
        # Nothing to prune yet, nor any Pod of its forks to read.
        with contextlib.suppress(*kube.CLIENT_ERRORS):
            await reconciler.created(name, int(meta.get("generation", 1)))

    @kopf.on.resume(**sandboxes, id="resume", registry=registry)
    @kopf.on.update(**sandboxes, id="update", field="spec", registry=registry)
    async def sandbox_changed(name: str, **_: Any) -> None:
        await reconcile_quietly(name, full=True)

    @kopf.timer(
        **sandboxes,
        id="resync",
        interval=settings.resync_seconds,
        initial_delay=settings.resync_seconds,
        registry=registry,
    )
    async def sandbox_resync(name: str, **_: Any) -> None:
        await reconcile_quietly(name, full=True)

    @kopf.on.delete(**sandboxes, id="delete", registry=registry)
    async def sandbox_deleted(name: str, body: kopf.Body, **_: Any) -> None:
        try:
            if not await reconciler.withdraw(dict(body)):
                raise kopf.TemporaryError(
                    "routes withdrawn; draining", delay=settings.drain_seconds
                )
            remaining = await reconciler.delete_generated(name)
        except kube.CLIENT_ERRORS as error:
            raise kopf.TemporaryError(f"deletion failed: {error}", delay=_RETRY_DELAY) from error
        if remaining:
            raise kopf.TemporaryError(
                f"waiting for {len(remaining)} objects to go: {', '.join(remaining[:5])}",
                delay=1.0,
            )

    @kopf.index(**sandboxes, id="baselines", registry=registry)
    def baselines(spec: kopf.Spec, name: str, status: kopf.Status, **_: Any) -> dict[Any, Any]:
        """(namespace, baseline name) -> (sandbox, its snapshot of the baseline): the
        generation it forked, MISSING when its status has the fork without one (the baseline
        was not there), None when its status has no such fork yet (never reconciled)."""
        snapshots = {}
        for fork in status.get("forks", []) or []:
            ref, snapshot = fork.get("forkOf", {}), fork.get("baseline") or {}
            key = (ref.get("namespace"), ref.get("name"))
            snapshots[key] = snapshot.get("generation", MISSING)
        index = {}
        for fork in spec.get("forks", []) or []:
            ref = fork.get("forkOf", {})
            key = (ref.get("namespace"), ref.get("name"))
            index[key] = (name, snapshots.get(key))
        return index

    @kopf.index(**sandboxes, id="namespaces", registry=registry)
    def namespaces(spec: kopf.Spec, name: str, **_: Any) -> dict[Any, Any]:
        """namespace -> sandbox, for every namespace a sandbox forks in."""
        return {fork.get("forkOf", {}).get("namespace"): name for fork in spec.get("forks", [])}

    @kopf.on.event(
        "apps",
        "v1",
        "deployments",
        id="fork-deployments",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_SANDBOX: kopf.PRESENT},
        registry=registry,
    )
    async def fork_deployment_event(labels: kopf.Labels, body: kopf.Body, **_: Any) -> None:
        with contextlib.suppress(*kube.CLIENT_ERRORS):
            await reconciler.rollout_changed(labels[LABEL_SANDBOX], dict(body))

    @kopf.on.event(
        "",
        "v1",
        "pods",
        id="fork-pods",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_SANDBOX: kopf.PRESENT},
        registry=registry,
    )
    async def fork_pod_event(labels: kopf.Labels, body: kopf.Body, **_: Any) -> None:
        if pod_trouble([dict(body)]) is not None:
            with contextlib.suppress(*kube.CLIENT_ERRORS):
                await reconciler.pods_in_trouble(labels[LABEL_SANDBOX])

    @kopf.on.event(
        "apps",
        "v1",
        "deployments",
        id="baseline-deployments",
        labels={LABEL_SANDBOX: kopf.ABSENT},
        registry=registry,
    )
    async def baseline_deployment_event(
        type: str | None, name: str, namespace: str | None, meta: kopf.Meta, **kwargs: Any
    ) -> None:
        baselines: kopf.Index[Any, Any] = kwargs["baselines"]  # kopf passes indexes by id
        generation = meta.get("generation")
        # A copy: the index is live, and changes while a reconcile below is awaited
        # ("dictionary changed size during iteration" with fifty sandboxes at once).
        for sandbox, snapshot in list(baselines.get((namespace, name), [])):
            if baseline_changes_fork(type, snapshot, generation):
                await reconcile_quietly(sandbox)

    @kopf.on.event(
        "",
        "v1",
        "services",
        id="baseline-services",
        labels={LABEL_SANDBOX: kopf.ABSENT},
        registry=registry,
    )
    async def baseline_service_event(type: str, namespace: str | None, **kwargs: Any) -> None:
        namespaces: kopf.Index[Any, Any] = kwargs["namespaces"]  # kopf passes indexes by id
        if not type:
            return  # the initial listing: every sandbox is resumed anyway
        for sandbox in set(namespaces.get(namespace, [])):
            await reconcile_quietly(sandbox)

    return registry


def baseline_changes_fork(event: str | None, snapshot: object, generation: object) -> bool:
    """Whether a baseline Deployment's event changes a fork of it, given the fork's snapshot
    (see the `baselines` index).

    A baseline that comes or goes, or whose generation (its spec) is not the snapshot's,
    does; a change of its status only does not. No event type is a listing (the operator
    starting, a watch resumed): a sandbox not reconciled yet is then left to its own create or
    resume handler (at a start, every sandbox has one). An event does count for it: it may
    have raced with the sandbox's first reconcile.
    """
    if event in ("ADDED", "DELETED"):
        return True
    return snapshot != generation and (snapshot is not None or bool(event))


def post_event(body: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """A Kubernetes Event on the Sandbox, which `kubectl describe sandbox` shows."""
    try:
        kopf.event(cast(kopf.Body, body), type=type_, reason=reason, message=message)
    except (RuntimeError, LookupError):
        log.debug("no kopf event context; event %s dropped", reason)
