"""The leader lease under faults of the real API server: no handler acts without holding it.

- the Lease's namespace missing: the operator waits (not ready, one line saying why), forks
  nothing, and takes over once the namespace exists;
- the API server refusing every Lease write for a while (a ValidatingAdmissionPolicy, the
  real admission mechanism): the leader gives up saying why, the standby cannot take over
  until the writes go through again, never are there two leaders, and nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from lightkube import ApiError, Client, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Namespace
from tests.integration.conftest import OperatorFactory
from tests.integration.operator.conftest import SandboxFactory
from tests.support.eventually import eventually, stays
from tests.support.kube import SandboxResource
from tests.support.system import Process

pytestmark = pytest.mark.cluster

LEASE = "sandboxmesh-operator"
#: A longer lease than the suite's 2 s, so the margin between a leader giving up (renew
#: deadline 2.7 s) and another taking over (4 s) is wide against the sampling below.
LEASE_SECONDS = 4


def _forks(client: Client, namespace: str, sandbox: str) -> list[str]:
    found = client.list(Deployment, namespace=namespace, labels={"sandboxmesh.io/sandbox": sandbox})
    return [d.metadata.name for d in found if d.metadata is not None and d.metadata.name]


def _lines(process: Process, text: str) -> list[str]:
    return [line for line in process.log().splitlines() if text in line]


def _readiness(process: Process) -> str:
    response = process.get("/readyz")
    return "gone" if response is None else str(response.json()["status"])


def _leads(process: Process) -> bool:
    """The operator's own word: its leader metric is 1."""
    response = process.get("/metrics")
    return response is not None and "\nsandboxmesh_operator_leader 1.0" in response.text


def _identity(process: Process) -> str:
    line = eventually(
        lambda: _lines(process, "candidate for the leader lease"), timeout=30, what="candidacy"
    )[0]
    found = re.search(r" as (\S+)$", line)
    assert found, line
    return found.group(1)


def test_without_the_lease_namespace_the_operator_waits_says_why_and_forks_nothing(
    operators: OperatorFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    lease_namespace = f"lease-{uuid.uuid4().hex[:8]}"
    operator = operators.start(f"--lease-namespace={lease_namespace}", wait_ready=False)
    factory = SandboxFactory(kube_client)
    try:
        name = factory.create([{"forkOf": baseline}])
        eventually(lambda: "does not exist" in _readiness(operator), timeout=30, what="the reason")
        assert f"namespace {lease_namespace} does not exist" in _readiness(operator)
        # Retried meanwhile (every 0.4-2 s), and still neither ready nor forking.
        stays(
            lambda: (
                not operator.is_ready()
                and not _leads(operator)
                and not _forks(kube_client, baseline["namespace"], name)
            ),
            during=6,
            what="no leadership and no forks without the lease",
        )
        assert operator.alive()
        (line,) = _lines(operator, "does not exist")
        assert "--lease-namespace" in line

        kube_client.create(Namespace(metadata=ObjectMeta(name=lease_namespace)))
        eventually(operator.is_ready, timeout=30, what="the operator to take the lease")
        factory.wait_phase(name, "Ready")
        assert _forks(kube_client, baseline["namespace"], name) == [f"checkout-sbx-{name}"]
    finally:
        factory.delete_all(wait=operator.alive())
        with contextlib.suppress(ApiError):
            kube_client.delete(Namespace, lease_namespace)


@dataclass
class LeaderSamples:
    """Who says it leads, and who the Lease names, sampled until stopped (in a thread)."""

    client: Client
    namespace: str
    operators: dict[str, Process]
    #: (identities whose leader metric is 1, the Lease's holder) per sample.
    samples: list[tuple[frozenset[str], str | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _holder(self) -> str | None:
        try:
            lease = self.client.get(Lease, LEASE, namespace=self.namespace)
        except ApiError:
            return None
        return lease.spec.holderIdentity if lease.spec else None

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            # Metrics before the Lease: a take-over writes the Lease first, then says so.
            leaders = frozenset(i for i, p in self.operators.items() if _leads(p))
            self.samples.append((leaders, self._holder()))

    @contextlib.contextmanager
    def running(self) -> Iterator[LeaderSamples]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)


@contextlib.contextmanager
def lease_writes_denied(client: Client, namespace: str) -> Iterator[None]:
    """While open, a ValidatingAdmissionPolicy and its binding make the API server refuse
    CREATE and UPDATE of Leases in `namespace` (reads and deletes still go through)."""
    name = f"deny-leases-{namespace}"
    policy = codecs.from_dict({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["coordination.k8s.io"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"], "resources": ["leases"],
            }]},
            "validations": [{"expression": "false", "message": "Lease writes refused (test)"}],
        },
    })  # fmt: skip
    binding = codecs.from_dict({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": namespace},
            }},
        },
    })  # fmt: skip
    created = []
    try:
        for obj in (policy, binding):
            client.create(obj)
            created.append(obj)
        eventually(
            lambda: _lease_writes_refused(client, namespace),
            timeout=30,
            what="the API server to refuse Lease writes",
        )
        yield
    finally:
        for obj in reversed(created):
            client.delete(type(obj), name)


def _lease_writes_refused(client: Client, namespace: str) -> bool:
    probe = Lease(metadata=ObjectMeta(name=f"probe-{uuid.uuid4().hex[:6]}", namespace=namespace))
    try:
        client.create(probe)
    except ApiError as error:
        return "Lease writes refused" in (error.status.message or "")
    client.delete(Lease, probe.metadata.name or "", namespace=namespace)
    return False


def test_lease_writes_refused_for_a_while_never_make_two_leaders_nor_orphans(
    operators: OperatorFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    lease = f"--lease-namespace={namespace}"
    leader = operators.start(lease, lease_duration=LEASE_SECONDS)
    standby = operators.start(lease, lease_duration=LEASE_SECONDS, wait_ready=False)
    identities = {_identity(leader): leader, _identity(standby): standby}
    factory = SandboxFactory(kube_client)
    samples = LeaderSamples(kube_client, namespace, identities)
    try:
        doomed = factory.create([{"forkOf": baseline}])
        factory.wait_phase(doomed, "Ready")
        with samples.running():
            with lease_writes_denied(kube_client, namespace):
                # The leader cannot renew: it gives up, saying why in one line, and exits.
                eventually(lambda: not leader.alive(), timeout=30, what="the leader to give up")
                assert leader.popen.returncode == 1
                (lost,) = _lines(leader, "lost the leader lease")
                assert "not renewed for" in lost
                assert "Lease writes refused" in lost
                # Deleted while nobody leads; the standby cannot take the lease meanwhile.
                kube_client.delete(SandboxResource, doomed)
                stays(
                    lambda: not standby.is_ready() and not _leads(standby),
                    during=2 * LEASE_SECONDS,
                    what="the standby waiting",
                )
                assert "Lease writes refused" in _readiness(standby)
                assert _forks(kube_client, baseline["namespace"], doomed), "finalized leaderless"
            eventually(standby.is_ready, timeout=60, what="the standby to take the lease")
            after = factory.create([{"forkOf": baseline}])
            factory.wait_phase(after, "Ready")
            eventually(
                lambda: factory.gone(doomed),
                timeout=60,
                what="the sandbox deleted during the fault to lose its finalizer",
            )
            assert _forks(kube_client, baseline["namespace"], doomed) == []
        factory.names.remove(doomed)
    finally:
        factory.delete_all(wait=standby.alive())

    assert any(leaders for leaders, _ in samples.samples), "the sampling saw no leader"
    for leaders, holder in samples.samples:
        assert len(leaders) <= 1, f"two leaders at once: {sorted(leaders)}"
        assert leaders <= {holder}, f"{sorted(leaders)} says it leads; the Lease names {holder}"
