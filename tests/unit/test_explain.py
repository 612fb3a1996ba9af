"""`sandboxmesh sandbox get` explains why a sandbox is not Ready, naming object and reason."""

from __future__ import annotations

from typing import Any

from sandboxmesh.cli.explain import explain
from sandboxmesh.spec.api import SandboxPublic

NOT_FOUND = "Deployment/shop/checkout: the baseline Deployment does not exist"
AT = "2026-01-01T00:00:00Z"


def _sandbox(*, generation: int = 1, deleting: bool = False, **status: Any) -> SandboxPublic:
    """The sandbox as the API answers it, with `status` as its cluster reported it."""
    return SandboxPublic.model_validate({
        "name": "pr-42", "team": "payments", "cluster": "staging",
        "spec": {"cluster": "staging",
                 "forks": [{"forkOf": {"namespace": "shop", "name": "checkout"}}]},
        "generation": generation, "routingKey": "k0123456789", "deleting": deleting,
        "deletionRequestedAt": None, "createdBy": "dev@example.com", "createdAt": AT,
        "updatedAt": AT, "status": {"observedGeneration": 1, **status},
    })  # fmt: skip


def test_a_missing_baseline_is_named_with_its_reason() -> None:
    lines = explain(_sandbox(
        phase="Pending", ready=False, reason="BaselineNotFound", message=NOT_FOUND,
        conditions=[
            {"type": "BaselineResolved", "status": "False", "reason": "BaselineNotFound",
             "message": NOT_FOUND, "lastTransitionTime": AT},
            {"type": "Ready", "status": "False", "reason": "BaselineNotFound",
             "message": NOT_FOUND, "lastTransitionTime": AT},
        ],
        forks=[{"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
                "ready": False, "readyReplicas": 0, "reason": "BaselineNotFound",
                "message": NOT_FOUND, "objects": []}],
    ))  # fmt: skip
    assert lines[0] == f"pr-42 is Pending, not Ready: BaselineNotFound: {NOT_FOUND}"
    assert "  BaselineResolved  False  BaselineNotFound: " + NOT_FOUND in lines
    assert any(line.startswith("  Deployment/shop/checkout: not ready (0/1") for line in lines)


def test_a_rolling_fork_names_its_deployment_and_objects() -> None:
    lines = explain(_sandbox(
        phase="Provisioning", ready=False, reason="ForksProgressing",
        message="Deployment shop/checkout-sbx-pr-42: 0/1 ready, rolling out",
        forks=[{"forkOf": {"namespace": "shop", "name": "checkout"}, "ready": False,
                "readyReplicas": 0, "reason": "ForksProgressing",
                "message": "Deployment shop/checkout-sbx-pr-42: 0/1 ready, rolling out",
                "objects": [{"apiVersion": "apps/v1", "kind": "Deployment",
                             "namespace": "shop", "name": "checkout-sbx-pr-42"},
                            {"apiVersion": "v1", "kind": "Service", "namespace": "shop",
                             "name": "checkout-sbx-pr-42"}]}],
    ))  # fmt: skip
    assert "checkout-sbx-pr-42" in lines[0]
    assert "    Deployment shop/checkout-sbx-pr-42" in lines
    assert "    Service shop/checkout-sbx-pr-42" in lines


def test_ready_and_a_lagging_cluster_are_said_plainly() -> None:
    ready = explain(_sandbox(phase="Ready", ready=True, reason="Ready"))
    assert ready[0] == "pr-42 is Ready: requests carrying its routing key reach its forks"
    lagging = _sandbox(generation=2, phase="Ready", ready=True)
    assert "has not yet reported on generation 2 (last report: 1)" in explain(lagging)[1]
    assert explain(_sandbox(deleting=True))[0].startswith("pr-42 is being deleted")


def test_preview_urls_are_listed_one_a_line() -> None:
    web = "https://web-k0123456789.preview.example.com/"
    admin = "https://admin-ui-k0123456789.preview.example.com/"
    lines = explain(_sandbox(
        phase="Ready", ready=True, reason="Ready",
        previewUrls=[
            {"name": "web", "url": web, "namespace": "shop", "service": "web", "port": 80},
            {"name": "admin-ui", "url": admin, "namespace": "shop", "service": "admin",
             "port": 8080, "access": "public"},
        ],
    ))  # fmt: skip
    at = lines.index("preview URLs:")
    assert lines[at + 1 : at + 3] == [
        f"  web       {web}  (authenticated)",
        f"  admin-ui  {admin}  (public)",
    ]
    assert "preview URLs:" not in explain(_sandbox(phase="Ready", ready=True, reason="Ready"))
