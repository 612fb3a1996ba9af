"""From `sandboxmesh sandbox apply --wait` to a Ready sandbox in a real cluster, and back."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from lightkube import ApiError, Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from tests.e2e.conftest import System, manifest
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource

pytestmark = [pytest.mark.cluster]


def _name() -> str:
    return f"e2e-{uuid.uuid4().hex[:6]}"


def _exists(client: Client, name: str) -> bool:
    try:
        client.get(SandboxResource, name)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


def test_apply_wait_reaches_ready_and_delete_removes_it_everywhere(
    system: System, shop: str, kube_client: Client, tmp_path: Path
) -> None:
    system.start_operator()
    system.start_agent()
    name = _name()
    applied = system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / "s.yaml", name, shop)),
                         "--wait", "--timeout", "120s", "-o", "json")  # fmt: skip
    assert f"sandbox {name} applied" in applied.stderr
    assert f"{name} is Ready" in applied.stderr

    fork = kube_client.get(Deployment, f"checkout-sbx-{name}", namespace=shop)
    assert fork.spec is not None
    assert fork.spec.template.spec is not None
    assert fork.spec.template.spec.containers[0].image == "example/app:pr"
    kube_client.get(Service, f"checkout-sbx-{name}", namespace=shop)
    explained = system.cli("sandbox", "get", name).stdout
    assert f"{name} is Ready" in explained
    assert f"    Deployment {shop}/checkout-sbx-{name}" in explained
    got = system.cli_json("sandbox", "get", name)
    assert got["status"]["phase"] == "Ready"
    assert [o["kind"] for o in got["status"]["forks"][0]["objects"]] == ["Deployment", "Service"]
    cluster = system.cli_json("cluster", "get", "local")
    assert cluster["connection"] == "connected"

    system.cli("sandbox", "delete", name, "--wait", "--timeout", "120s")
    assert not _exists(kube_client, name)
    assert not list(kube_client.list(Deployment, namespace=shop,
                                     labels={"sandboxmesh.io/sandbox": name}))  # fmt: skip
    missing = system.cli("sandbox", "get", name, check=False)
    assert missing.returncode != 0
    assert len(missing.stderr.strip().splitlines()) == 1


def test_a_quota_refusal_shows_in_the_cli(system: System, shop: str, tmp_path: Path) -> None:
    system.cli("quota", "set", "--org", "--max-sandboxes", "1")
    first = system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / "a.yaml", _name(), shop)))
    assert first.returncode == 0
    refused = system.cli(
        "sandbox", "apply", "-f", str(manifest(tmp_path / "b.yaml", _name(), shop)), check=False
    )
    assert refused.returncode != 0
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error:")
    assert "quota" in line.lower()
    assert "1" in line


def test_the_agent_killed_mid_way_and_restarted_loses_and_duplicates_nothing(
    system: System, shop: str, kube_client: Client, tmp_path: Path
) -> None:
    system.start_operator()
    agent = system.start_agent()
    names = [_name() for _ in range(4)]
    for index, name in enumerate(names[:3]):
        system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / f"{index}.yaml", name, shop)))
    eventually(lambda: _exists(kube_client, names[0]), timeout=30, what="the first sandbox")
    agent.kill()
    # While it is down the user carries on: one more sandbox, one deleted.
    system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / "3.yaml", names[3], shop)))
    system.cli("sandbox", "delete", names[0])

    system.start_agent()
    for name in names[1:]:
        system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / f"{name}.yaml", name, shop)),
                   "--wait", "--timeout", "120s")  # fmt: skip
    eventually(lambda: not _exists(kube_client, names[0]), timeout=60, what="the deleted one gone")
    # The control plane forgets it once the agent has confirmed the removal (a moment later).
    eventually(
        lambda: (
            sorted(item["name"] for item in system.cli_json("sandbox", "list")["items"])
            == sorted(names[1:])
        ),
        timeout=30,
        what="the control plane listing the remaining ones",
    )
    forks = [
        d.metadata.name for d in kube_client.list(Deployment, namespace=shop)
        if d.metadata is not None and d.metadata.name and "-sbx-" in d.metadata.name
    ]  # fmt: skip
    assert sorted(forks) == sorted(f"checkout-sbx-{n}" for n in names[1:])
