"""`sandboxmesh sandbox get` explains why a sandbox is not Ready, naming object and reason."""

from __future__ import annotations

from sandboxmesh.cli.explain import explain

NOT_FOUND = "Deployment/shop/checkout: the baseline Deployment does not exist"


def _sandbox(**status: object) -> dict[str, object]:
    return {"name": "pr-42", "generation": 1, "deleting": False,
            "status": {"observedGeneration": 1, **status}}  # fmt: skip


def test_a_missing_baseline_is_named_with_its_reason() -> None:
    lines = explain(_sandbox(
        phase="Pending", ready=False, reason="BaselineNotFound", message=NOT_FOUND,
        conditions=[
            {"type": "BaselineResolved", "status": "False", "reason": "BaselineNotFound",
             "message": NOT_FOUND},
            {"type": "Ready", "status": "False", "reason": "BaselineNotFound",
             "message": NOT_FOUND},
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
                "objects": [{"kind": "Deployment", "namespace": "shop",
                             "name": "checkout-sbx-pr-42"},
                            {"kind": "Service", "namespace": "shop",
                             "name": "checkout-sbx-pr-42"}]}],
    ))  # fmt: skip
    assert "checkout-sbx-pr-42" in lines[0]
    assert "    Deployment shop/checkout-sbx-pr-42" in lines
    assert "    Service shop/checkout-sbx-pr-42" in lines


def test_ready_and_a_lagging_cluster_are_said_plainly() -> None:
    ready = explain(_sandbox(phase="Ready", ready=True, reason="Ready"))
    assert ready[0] == "pr-42 is Ready: requests carrying its routing key reach its forks"
    lagging = {**_sandbox(phase="Ready", ready=True), "generation": 2}
    assert "has not yet reported on generation 2 (last report: 1)" in explain(lagging)[1]
    assert explain({**_sandbox(), "deleting": True})[0].startswith("pr-42 is being deleted")
