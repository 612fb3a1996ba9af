"""The agent writes the control plane's preview keys into its ConfigMap in the real API server,
and does not write it again while they stay the same (a restarted agent writes it once)."""

from __future__ import annotations

import json
import re

import pytest
from lightkube import ApiError, Client
from lightkube.resources.core_v1 import ConfigMap
from tests.integration.agent.conftest import AgentRunner, ControlPlane
from tests.support.eventually import eventually, stays
from tests.support.system import Process

from sandboxmesh.agent.preview_keys import configmap_data
from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.spec import preview
from sandboxmesh.spec.protocol import FEATURE_PREVIEW_KEYS

pytestmark = pytest.mark.cluster


def _data(client: Client, namespace: str) -> dict[str, str] | None:
    try:
        found = client.get(ConfigMap, preview.PREVIEW_KEYS_CONFIGMAP, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise
    return dict(found.data or {})


def _polls(agent: Process) -> float:
    response = agent.get("/metrics")
    assert response is not None
    samples = re.findall(r"^sandboxmesh_agent_polls_total\{[^}]*\} (\S+)$", response.text, re.M)
    return sum(float(value) for value in samples)


def test_the_configmap_holds_the_keys_and_is_written_only_when_they_change(
    control_plane: ControlPlane,
    agents: AgentRunner,
    cluster_token: str,
    kube_client: Client,
    namespace: str,
) -> None:
    with ControlPlaneClient(
        ClientConfig(url=control_plane.url, token=cluster_token, agent_version="tests/1")
    ) as plane:
        batch = plane.send(endpoints.assignments(0, wait=0, features=(FEATURE_PREVIEW_KEYS,)))
    assert batch.preview_keys is not None
    expected = configmap_data(batch.preview_keys)

    agent = agents.start(
        f"--token-file={agents.token_file}", f"--namespace={namespace}", "--poll-wait=1"
    )
    data = eventually(
        lambda: _data(kube_client, namespace), timeout=20, what="the preview keys' ConfigMap"
    )
    assert data == expected
    assert data[preview.KEYS_ISSUER] == control_plane.url
    assert data[preview.KEYS_AUTHORIZE_URL] == f"{control_plane.url}/portal/preview/authorize"
    [jwk] = json.loads(data[preview.KEYS_JWKS])["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    written = kube_client.get(ConfigMap, preview.PREVIEW_KEYS_CONFIGMAP, namespace=namespace)
    assert written.metadata is not None
    assert written.metadata.labels == {"app.kubernetes.io/managed-by": "sandboxmesh-agent"}
    managers = {entry.manager for entry in written.metadata.managedFields or []}
    assert managers == {"sandboxmesh-agent"}

    # Someone else changes it: an agent that wrote on every poll would put it back at once.
    kube_client.patch(
        ConfigMap,
        preview.PREVIEW_KEYS_CONFIGMAP,
        {"data": {preview.KEYS_ISSUER: "https://changed.example"}},
        namespace=namespace,
    )
    polls = _polls(agent)
    stays(
        lambda: (
            (_data(kube_client, namespace) or {}).get(preview.KEYS_ISSUER)
            == "https://changed.example"
        ),
        during=4,
        what="the ConfigMap left alone while the keys stay the same",
    )
    assert _polls(agent) >= polls + 2, "the agent kept polling meanwhile"

    # A restarted agent does not know what it wrote: it writes once, putting it right.
    agent.stop()
    agents.start(f"--token-file={agents.token_file}", f"--namespace={namespace}", "--poll-wait=1")
    eventually(
        lambda: _data(kube_client, namespace) == expected,
        timeout=20,
        what="the restarted agent to write the keys again",
    )
