"""The pure fork computation: baseline + Sandbox -> desired objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandboxmesh.operator import naming
from sandboxmesh.operator.forks import (
    ForkError,
    SandboxIdentity,
    check_supported,
    desired_fork,
    pod_template_hash,
    selects,
)
from sandboxmesh.spec import Fork, Reason

SANDBOX = SandboxIdentity(name="pr-42", uid="uid-1", routing_key="abcdefghij123456")


def _baseline(**template_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "resourceVersion": "77",
            "generation": 3,
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "checkout"}},
            "minReadySeconds": 5,
            "template": {
                "metadata": {
                    "labels": {"app": "checkout", "tier": "web", "team": "pay"},
                    "annotations": {"prometheus.io/scrape": "true"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "checkout:1",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "proxy", "image": "proxy:1"},
                    ],
                    **template_spec,
                },
            },
        },
    }


def _service(name: str, selector: dict[str, str] | None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "selector": selector,
            "ports": [
                {
                    "name": "http",
                    "port": 80,
                    "targetPort": 8080,
                    "protocol": "TCP",
                    "nodePort": 30080,
                }
            ],
            **spec,
        },
    }


def _fork(**customizations: Any) -> Fork:
    return Fork.model_validate(
        {"forkOf": {"namespace": "shop", "name": "checkout"}, "customizations": customizations}
    )


def test_fork_deployment_copies_the_template_and_applies_customizations() -> None:
    baseline = _baseline()
    original = copy.deepcopy(baseline)
    fork = _fork(
        images=[{"container": "app", "image": "checkout:pr-42"}],
        env=[
            {"container": "app", "name": "A", "value": "changed"},
            {"container": "app", "name": "B", "operation": "delete"},
            {"container": "app", "name": "C", "value": "new"},
        ],
    )
    desired = desired_fork(SANDBOX, fork, baseline, [])
    deployment = desired.deployment
    assert baseline == original, "the baseline must not be modified"
    assert deployment["metadata"]["name"] == "checkout-sbx-pr-42"
    assert deployment["metadata"]["namespace"] == "shop"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["minReadySeconds"] == 5
    app, proxy = deployment["spec"]["template"]["spec"]["containers"]
    assert app["image"] == "checkout:pr-42"
    assert proxy["image"] == "proxy:1"
    assert app["env"] == [
        {"name": "A", "value": "changed"},
        {"name": "C", "value": "new"},
        {"name": "SANDBOXMESH_SANDBOX_NAME", "value": "pr-42"},
        {"name": "SANDBOXMESH_ROUTING_KEY", "value": "abcdefghij123456"},
    ]
    assert {e["name"] for e in proxy["env"]} == {
        "SANDBOXMESH_SANDBOX_NAME",
        "SANDBOXMESH_ROUTING_KEY",
    }
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true"
    }
    (owner,) = deployment["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "sandboxmesh.io/v1alpha1",
        "kind": "Sandbox",
        "name": "pr-42",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_fork_pods_match_no_baseline_selector_but_keep_other_labels() -> None:
    services = [
        _service("checkout", {"app": "checkout"}),
        _service("web", {"tier": "web"}),
        _service("external", None),
    ]
    desired = desired_fork(SANDBOX, _fork(), _baseline(), services)
    pod_labels = desired.deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == {
        "team": "pay",
        "app.kubernetes.io/managed-by": "sandboxmesh",
        "sandboxmesh.io/sandbox": "pr-42",
        "sandboxmesh.io/fork": "checkout-sbx-pr-42",
    }
    for service in services:
        assert not selects(service["spec"]["selector"], pod_labels)
    assert not selects({"app": "checkout"}, pod_labels)  # the baseline Deployment's own
    selector = desired.deployment["spec"]["selector"]["matchLabels"]
    assert selects(selector, pod_labels)


def test_fork_services_copy_ports_of_every_service_selecting_the_baseline() -> None:
    services = [
        _service("checkout", {"app": "checkout"}, type="NodePort"),
        _service("web", {"tier": "web"}),
        _service("other", {"app": "payments"}),
        _service("headless", None),
    ]
    desired = desired_fork(SANDBOX, _fork(), _baseline(), services)
    by_name = {s["metadata"]["name"]: s for s in desired.services}
    assert set(by_name) == {"checkout-sbx-pr-42", "web-sbx-pr-42"}
    checkout = by_name["checkout-sbx-pr-42"]
    assert checkout["spec"]["type"] == "ClusterIP"
    assert checkout["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    ]
    assert checkout["spec"]["selector"] == desired.deployment["spec"]["selector"]["matchLabels"]
    assert checkout["metadata"]["labels"][naming.LABEL_BASELINE_SERVICE] == "checkout"
    refs = {(r.kind, r.name, r.baseline) for r in desired.object_refs()}
    assert refs == {
        ("Deployment", "checkout-sbx-pr-42", "checkout"),
        ("Service", "checkout-sbx-pr-42", "checkout"),
        ("Service", "web-sbx-pr-42", "web"),
    }


def test_snapshot_records_the_baseline() -> None:
    baseline = _baseline()
    snapshot = desired_fork(SANDBOX, _fork(), baseline, []).snapshot
    assert (snapshot.resource_version, snapshot.generation) == ("77", 3)
    assert snapshot.pod_template_hash == pod_template_hash(baseline)
    changed = _baseline()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "checkout:2"
    assert pod_template_hash(changed) != snapshot.pod_template_hash
    rescaled = _baseline()
    rescaled["spec"]["replicas"] = 9
    assert pod_template_hash(rescaled) == snapshot.pod_template_hash


def test_a_customization_naming_a_missing_container_is_an_error() -> None:
    fork = _fork(env=[{"container": "sidecar", "name": "X", "value": "1"}])
    with pytest.raises(ForkError) as caught:
        desired_fork(SANDBOX, fork, _baseline(), [])
    assert caught.value.reason is Reason.CONTAINER_NOT_FOUND
    assert "'sidecar'" in caught.value.message
    assert "app, proxy" in caught.value.message


def test_a_customization_may_leave_out_the_container_of_a_one_container_pod() -> None:
    baseline = _baseline()
    containers = baseline["spec"]["template"]["spec"]["containers"]
    containers[:] = containers[:1]
    fork = _fork(images=[{"image": "checkout:pr-9"}], env=[{"name": "X", "value": "1"}])
    deployment = desired_fork(SANDBOX, fork, baseline, []).deployment
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "checkout:pr-9"
    assert {"name": "X", "value": "1"} in container["env"]


def test_leaving_out_the_container_of_a_pod_with_several_names_them() -> None:
    fork = _fork(images=[{"image": "checkout:pr-9"}])
    with pytest.raises(ForkError) as caught:
        desired_fork(SANDBOX, fork, _baseline(), [])
    assert caught.value.reason is Reason.CONTAINER_NOT_NAMED
    assert "app, proxy" in caught.value.message
    assert "name one with `container`" in caught.value.message


def test_unsupported_kind_and_namespace_not_allowed() -> None:
    stateful = Fork.model_validate(
        {"forkOf": {"kind": "StatefulSet", "namespace": "shop", "name": "db"}}
    )
    with pytest.raises(ForkError) as caught:
        check_supported(stateful, None)
    assert caught.value.reason is Reason.UNSUPPORTED_KIND
    with pytest.raises(ForkError) as caught:
        check_supported(_fork(), frozenset({"staging"}))
    assert caught.value.reason is Reason.NAMESPACE_NOT_ALLOWED
    assert "staging" in caught.value.message
    check_supported(_fork(), frozenset({"shop"}))
    check_supported(_fork(), None)


def test_computation_is_deterministic() -> None:
    services = [_service("checkout", {"app": "checkout"})]
    first = desired_fork(SANDBOX, _fork(), _baseline(), services)
    second = desired_fork(SANDBOX, _fork(), _baseline(), services)
    assert first == second


@pytest.mark.parametrize(
    ("baseline", "sandbox"),
    [("checkout", "pr-42"), ("a" * 63, "b" * 40), ("x" * 30, "1-starts-with-digit" + "9" * 21)],
)
def test_fork_names_are_short_unique_labels(baseline: str, sandbox: str) -> None:
    name = naming.fork_object_name(baseline, sandbox)
    assert len(name) <= 63
    assert name[0].isalpha()
    assert name.endswith(f"-sbx-{sandbox}")
    # Baselines that differ only past the cut still get different names (the hash).
    assert naming.fork_object_name(baseline + "z", sandbox) != name


def test_fork_names_are_stable() -> None:
    assert naming.fork_object_name("checkout", "pr-42") == "checkout-sbx-pr-42"
    long = naming.fork_object_name("a" * 63, "pr-42")
    assert long == naming.fork_object_name("a" * 63, "pr-42")
