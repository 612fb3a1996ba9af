"""A reconcile the API server refuses is retried with backoff, with no event to prompt it."""

from __future__ import annotations

import pytest
from lightkube import Client
from lightkube.models.core_v1 import ResourceQuotaSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ResourceQuota
from tests.integration.operator.conftest import SandboxFactory
from tests.support.eventually import eventually
from tests.support.system import Process

pytestmark = pytest.mark.cluster


def _metric(operator: Process, name: str) -> float:
    response = operator.get("/metrics")
    assert response is not None
    for line in response.text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def test_a_refused_fork_is_retried_with_backoff_until_it_is_allowed(
    sandboxes: SandboxFactory,
    kube_client: Client,
    baseline: dict[str, str],
    namespace: str,
    operator: Process,
) -> None:
    # A quota that leaves no room for one more Deployment: the API server refuses the fork
    # (403, "exceeded quota"), as it would for a platform team's real quota.
    quota = ResourceQuota(
        metadata=ObjectMeta(name="no-more", namespace=namespace),
        spec=ResourceQuotaSpec(hard={"count/deployments.apps": "1"}),
    )
    kube_client.create(quota)
    eventually(
        lambda: kube_client.get(ResourceQuota, "no-more", namespace=namespace).status or {},
        timeout=30,
        what="the quota counted",
    )
    name = sandboxes.create([{"forkOf": baseline}])

    retries = "sandboxmesh_operator_reconcile_retries_total"
    eventually(lambda: _metric(operator, retries) >= 2, timeout=30, what="two retries")
    log = operator.log_path.read_text()
    failures = [line for line in log.splitlines() if f"reconciling sandbox {name} failed" in line]
    assert failures, "each failure is logged, naming the sandbox"
    assert "403" in failures[0]
    assert "exceeded quota" in failures[0]

    # Nothing about the sandbox changes from here: only the retry can bring it to Ready.
    kube_client.delete(ResourceQuota, "no-more", namespace=namespace)
    sandboxes.wait_phase(name, "Ready", timeout=90)
