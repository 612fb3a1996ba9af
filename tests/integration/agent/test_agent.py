"""The agent with the real control-plane server, the real local cluster and the operator."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Secret
from tests.integration.agent.conftest import CLUSTER, AgentRunner, ControlPlane
from tests.support.eventually import eventually, stays
from tests.support.kube import SandboxResource, apply_baseline
from tests.support.system import Process

from sandboxmesh.client import endpoints

pytestmark = pytest.mark.cluster


def _name() -> str:
    return f"a-{uuid.uuid4().hex[:8]}"


def _cr(client: Client, name: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = client.get(SandboxResource, name).to_dict()
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise
    return body


def _wait_phase(plane: ControlPlane, name: str, phase: str, timeout: float = 45) -> None:
    eventually(lambda: plane.phase(name) == phase, timeout=timeout,
               what=f"{name} to be {phase} in the control plane")  # fmt: skip


def _unauthorized_polls(plane: ControlPlane) -> float:
    response = plane.server.get("/metrics")
    assert response is not None
    pattern = (
        r'sandboxmesh_http_requests_total\{method="GET",'
        r'route="/api/v1/agent/assignments",status="401"\} (\S+)'
    )
    match = re.search(pattern, response.text)
    return float(match.group(1)) if match else 0.0


def test_intent_becomes_a_sandbox_and_its_status_comes_back(
    control_plane: ControlPlane,
    agents: AgentRunner,
    operator: Process,
    kube_client: Client,
    baseline: dict[str, str],
) -> None:
    agents.start()
    name = _name()
    created = control_plane.apply(name, [{"forkOf": baseline}])
    routing_key = created.status.routing_key

    cr = eventually(lambda: _cr(kube_client, name), timeout=15, what="the Sandbox object")
    assert cr["spec"]["routingKey"] == routing_key
    assert cr["spec"]["forks"][0]["forkOf"]["name"] == "checkout"
    assert cr["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sandboxmesh-agent"
    assert cr["metadata"]["annotations"]["sandboxmesh.io/generation"] == "1"

    _wait_phase(control_plane, name, "Ready")
    sandbox = control_plane.sandbox(name)
    assert sandbox is not None
    assert sandbox.status.ready is True
    assert sandbox.status.forks[0].objects

    cluster = control_plane.client.send(endpoints.get_cluster(CLUSTER))
    assert cluster.connection == "connected"
    assert cluster.agent_version

    control_plane.client.send(endpoints.delete_sandbox(name))
    eventually(lambda: _cr(kube_client, name) is None, timeout=30, what="the Sandbox object gone")
    eventually(lambda: control_plane.sandbox(name) is None, timeout=30,
               what="the sandbox gone from the control plane")  # fmt: skip


def test_start_resyncs_and_prunes_what_is_no_longer_assigned(
    control_plane: ControlPlane, agents: AgentRunner, kube_client: Client, namespace: str
) -> None:
    stale = _name()
    kube_client.create(
        SandboxResource(
            metadata=ObjectMeta(name=stale,
                                labels={"app.kubernetes.io/managed-by": "sandboxmesh-agent"}),
            spec={"cluster": CLUSTER, "routingKey": "stale0123456789",
                  "forks": [{"forkOf": {"namespace": namespace, "name": "gone"}}]},
        )
    )  # fmt: skip
    unrelated = _name()  # not the agent's: no label, so never pruned
    kube_client.create(
        SandboxResource(
            metadata=ObjectMeta(name=unrelated),
            spec={"cluster": CLUSTER, "routingKey": "mine0123456789a",
                  "forks": [{"forkOf": {"namespace": namespace, "name": "gone"}}]},
        )
    )  # fmt: skip
    assigned = _name()
    control_plane.apply(assigned, [{"forkOf": {"namespace": namespace, "name": "checkout"}}])

    agents.start()
    eventually(lambda: _cr(kube_client, assigned), timeout=15, what="the assigned sandbox")
    eventually(lambda: _cr(kube_client, stale) is None, timeout=15, what="the stale one pruned")
    assert _cr(kube_client, unrelated) is not None
    kube_client.delete(SandboxResource, unrelated)


def test_an_outage_of_the_control_plane_loses_nothing(
    control_plane: ControlPlane,
    agents: AgentRunner,
    operator: Process,
    kube_client: Client,
    baseline: dict[str, str],
    namespace: str,
) -> None:
    agent = agents.start()
    first = _name()
    control_plane.apply(first, [{"forkOf": baseline}])
    _wait_phase(control_plane, first, "Ready")

    control_plane.stop()
    # While the control plane is away, the cluster changes: the baseline disappears.
    kube_client.delete(Deployment, "checkout", namespace=namespace)
    eventually(
        lambda: (
            (_cr(kube_client, first) or {}).get("status", {}).get("reason") == "BaselineNotFound"
        ),
        timeout=30,
        what="the sandbox to lose its baseline",
    )
    eventually(lambda: "retrying in" in agent.log(), timeout=30, what="the agent to retry")

    control_plane.start_again()
    # The status that changed during the outage arrives...
    _wait_phase(control_plane, first, "Pending")
    sandbox = control_plane.sandbox(first)
    assert sandbox is not None
    assert sandbox.status.reason == "BaselineNotFound"
    # ...and intents created after it do too.
    apply_baseline(kube_client, namespace, "checkout", replicas=1)
    second = _name()
    control_plane.apply(second, [{"forkOf": baseline}])
    _wait_phase(control_plane, second, "Ready")
    _wait_phase(control_plane, first, "Ready")
    assert agent.alive()


def test_a_rotated_token_is_picked_up_from_its_secret_without_a_restart(
    control_plane: ControlPlane,
    agents: AgentRunner,
    kube_client: Client,
    namespace: str,
    cluster_token: str,
) -> None:
    def write_secret(token: str) -> None:
        kube_client.apply(
            Secret(metadata=ObjectMeta(name="agent-token", namespace=namespace),
                   data={"token": base64.b64encode(token.encode()).decode()}),
            field_manager="tests",
        )  # fmt: skip

    write_secret(cluster_token)
    agent = agents.start(f"--token-secret={namespace}/agent-token")
    before = _name()
    control_plane.apply(before, [{"forkOf": {"namespace": namespace, "name": "checkout"}}])
    eventually(lambda: _cr(kube_client, before), timeout=15, what="a sandbox with the first token")

    rotated = control_plane.client.send(endpoints.rotate_cluster_token(CLUSTER, grace_seconds=3600))
    new_token = rotated.token
    write_secret(new_token)
    eventually(lambda: "using the new cluster token" in agent.log(), timeout=30,
               what="the agent to switch tokens")  # fmt: skip
    # The old token is revoked for good: only the new one works now.
    control_plane.client.send(endpoints.revoke_cluster_tokens(CLUSTER, prefix=cluster_token[:12]))
    after = _name()
    control_plane.apply(after, [{"forkOf": {"namespace": namespace, "name": "checkout"}}])
    eventually(lambda: _cr(kube_client, after), timeout=30, what="a sandbox with the new token")
    assert agent.alive()
    assert "refused the cluster token" not in agent.log()
    assert cluster_token not in agent.log()
    assert new_token not in agent.log()


def test_a_revoked_token_stops_the_agent_with_one_line_and_no_retry_storm(
    control_plane: ControlPlane, agents: AgentRunner, cluster_token: str
) -> None:
    agent = agents.start()
    control_plane.client.send(endpoints.revoke_cluster_tokens(CLUSTER))
    eventually(lambda: "refused the cluster token" in agent.log(), timeout=30,
               what="the agent to notice the revocation")  # fmt: skip
    eventually(lambda: not agent.is_ready(), timeout=10, what="the agent to turn unready")
    refused = _unauthorized_polls(control_plane)
    assert refused >= 1
    # Quiet: over several poll periods, no further request reaches the control plane.
    stays(lambda: _unauthorized_polls(control_plane) == refused, during=8,
          what="no further refused poll")  # fmt: skip
    assert agent.log().count("refused the cluster token") == 1
    assert agent.alive()

    # A new token written where the agent reads it brings it back.
    fresh = control_plane.client.send(endpoints.rotate_cluster_token(CLUSTER)).token
    agents.token_file.write_text(fresh)
    eventually(agent.is_ready, timeout=30, what="the agent to resume with the new token")


def test_the_agent_killed_and_restarted_loses_and_duplicates_nothing(
    control_plane: ControlPlane,
    agents: AgentRunner,
    operator: Process,
    kube_client: Client,
    baseline: dict[str, str],
) -> None:
    agent = agents.start()
    names = [_name() for _ in range(5)]
    for name in names:
        control_plane.apply(name, [{"forkOf": baseline}])
    eventually(lambda: _cr(kube_client, names[0]), timeout=15, what="the first Sandbox object")
    agent.kill()

    # While it is down: two more, one deleted.
    extra = [_name(), _name()]
    for name in extra:
        control_plane.apply(name, [{"forkOf": baseline}])
    control_plane.client.send(endpoints.delete_sandbox(names[0]))

    agents.start()
    expected = set(names[1:] + extra)
    for name in expected:
        _wait_phase(control_plane, name, "Ready", timeout=60)
    eventually(lambda: control_plane.sandbox(names[0]) is None, timeout=30,
               what="the deleted sandbox gone from the control plane")  # fmt: skip
    held = {
        s.metadata.name for s in kube_client.list(
            SandboxResource, labels={"app.kubernetes.io/managed-by": "sandboxmesh-agent"}
        ) if s.metadata is not None
    }  # fmt: skip
    assert held == expected
    listed = control_plane.client.send(endpoints.list_sandboxes(cluster=CLUSTER))
    assert sorted(item.name for item in listed.items) == sorted(expected)
