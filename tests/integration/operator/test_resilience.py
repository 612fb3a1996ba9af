"""The operator under stress: many sandboxes, a SIGKILL mid-way, a second replica, a fence."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Service
from tests.integration.conftest import OperatorFactory
from tests.integration.operator.conftest import SandboxFactory
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource
from tests.support.system import Process

pytestmark = pytest.mark.cluster


def _phases(client: Client, names: list[str]) -> Counter[str]:
    wanted = set(names)
    return Counter(
        (s.status or {}).get("phase", "none")
        for s in client.list(SandboxResource)
        if s.metadata is not None and s.metadata.name in wanted
    )


def _generated(client: Client, kind: Any, namespace: str) -> Counter[str]:
    """How many objects of `kind` each sandbox owns in `namespace`."""
    owners: Counter[str] = Counter()
    for obj in client.list(
        kind, namespace=namespace, labels={"app.kubernetes.io/managed-by": "sandboxmesh"}
    ):
        assert obj.metadata is not None
        assert obj.metadata.ownerReferences
        (owner,) = obj.metadata.ownerReferences
        owners[owner.name] += 1
    return owners


@pytest.fixture
def operator(operators: OperatorFactory) -> Process:
    # The default lease (15 s): this file's burst, beside the rest of the suite, slowed the
    # API server past the 5 s test lease's 3.3 s renew deadline, which is not what it tests.
    return operators.start(lease_duration=15)


def test_fifty_sandboxes_at_once_all_turn_ready(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    names = [sandboxes.create([{"forkOf": baseline}]) for _ in range(50)]
    eventually(
        lambda: _phases(kube_client, names)["Ready"] == 50,
        timeout=180,
        what="50 Ready sandboxes",
        interval=0.5,
    )
    assert _generated(kube_client, Deployment, namespace) == Counter({n: 1 for n in names})
    assert _generated(kube_client, Service, namespace) == Counter({n: 1 for n in names})


def test_sigkill_mid_reconcile_converges_without_duplicates_or_orphans(
    operators: OperatorFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    factory = SandboxFactory(kube_client)
    names = [factory.create([{"forkOf": baseline}]) for _ in range(20)]
    first = operators.start(wait_ready=False)
    # Kill it once it has started forking the 20, before it has finished.
    eventually(
        lambda: sum(_generated(kube_client, Deployment, namespace).values()) > 0,
        timeout=30,
        what="the first fork Deployment",
        interval=0.02,
    )
    first.kill()
    assert _phases(kube_client, names)["Ready"] < 20, "killed too late to prove anything"

    second = operators.start()
    try:
        eventually(
            lambda: _phases(kube_client, names)["Ready"] == 20,
            timeout=120,
            what="20 Ready sandboxes after the restart",
            interval=0.5,
        )
        assert _generated(kube_client, Deployment, namespace) == Counter({n: 1 for n in names})
        assert _generated(kube_client, Service, namespace) == Counter({n: 1 for n in names})
    finally:
        factory.delete_all(wait=second.alive())
    assert sum(_generated(kube_client, Deployment, namespace).values()) == 0
    assert sum(_generated(kube_client, Service, namespace).values()) == 0


def test_only_the_leader_reconciles_and_a_standby_takes_over(
    operators: OperatorFactory, kube_client: Client, baseline: dict[str, str]
) -> None:
    leader = operators.start()
    standby = operators.start(wait_ready=False)
    # The standby is alive (healthz) but not ready: it waits for the lease.
    eventually(lambda: _healthy(standby.url("/healthz")), timeout=30, what="standby healthz")
    assert not standby.is_ready()
    assert "waiting for the leader lease" in eventually(
        lambda: standby.log() if "waiting for the leader lease" in standby.log() else None,
        timeout=10,
        what="the standby to wait for the lease",
    )

    factory = SandboxFactory(kube_client)
    try:
        before = factory.create([{"forkOf": baseline}])
        factory.wait_phase(before, "Ready")
        leader.kill()
        eventually(standby.is_ready, timeout=30, what="the standby to take the lease")
        after = factory.create([{"forkOf": baseline}])
        factory.wait_phase(after, "Ready")
    finally:
        factory.delete_all(wait=True)
    # A stop asked for by SIGTERM (kopf takes that signal for itself as it starts): a clean
    # exit, that says why, with the lease handed back.
    standby.stop()
    assert standby.popen.returncode == 0
    log = standby.log()
    assert "stopping: asked to (SIGTERM or SIGINT)" in log
    assert "released the leader lease" in log


def test_a_namespace_the_operator_may_not_fork_in_is_refused(
    operators: OperatorFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    # kopf watches only configured namespaces that exist, and serves the cluster-scoped
    # Sandboxes through them: the allowed namespace must exist.
    allowed = f"allowed-{namespace}"
    kube_client.create(Namespace(metadata=ObjectMeta(name=allowed)))
    operator = operators.start(f"--namespace={allowed}")
    factory = SandboxFactory(kube_client)
    try:
        name = factory.create([{"forkOf": baseline}])
        body = factory.wait_phase(name, "Failed")
        status = body["status"]
        assert status["reason"] == "NamespaceNotAllowed"
        assert baseline["namespace"] in status["message"]
        assert allowed in status["message"]
        assert operator.alive()
    finally:
        factory.delete_all(wait=True)
        kube_client.delete(Namespace, allowed)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
