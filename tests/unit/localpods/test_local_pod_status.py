"""A local Pod's status, its Services' endpoints, and the local Node's objects (pure)."""

from __future__ import annotations

from typing import Any

from sandboxmesh.localpods import endpoints, node, podstatus
from sandboxmesh.localpods.endpoints import ServingPod
from sandboxmesh.localpods.podstatus import ContainerState

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["lastTransitionTime"]) for c in status["conditions"]}


def test_a_pod_is_ready_only_once_every_container_is_and_not_while_deleting() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p"}}
    starting = [
        ContainerState("app", "img", running_since=T0, pid=42),
        ContainerState("side", "img"),
    ]
    status = podstatus.pod_status(pod, starting, T0)
    assert status["phase"] == "Running"
    assert status["startTime"] == T0
    assert conditions(status)["Ready"] == ("False", T0)
    app, side = status["containerStatuses"]
    assert app["state"] == {"running": {"startedAt": T0}}
    assert app["containerID"] == "local://42"
    assert side["state"]["waiting"]["reason"] == "ContainerCreating"

    pod["status"] = status
    ready = [ContainerState("app", "img", running_since=T0, ready=True),
             ContainerState("side", "img", running_since=T1, ready=True)]  # fmt: skip
    status = podstatus.pod_status(pod, ready, T1)
    assert conditions(status)["Ready"] == ("True", T1)
    assert conditions(status)["PodScheduled"] == ("True", T0)  # unchanged: its time is kept
    assert status["startTime"] == T0

    pod["status"] = status
    pod["metadata"]["deletionTimestamp"] = T1
    status = podstatus.pod_status(pod, ready, "2026-01-01T00:00:09Z")
    assert conditions(status)["Ready"][0] == "False"
    assert conditions(status)["ContainersReady"] == ("True", T1)


def test_a_pod_whose_containers_cannot_run_stays_pending_with_the_reason() -> None:
    waiting = ContainerState("app", "nginx", waiting=("ErrImageNeverPull", "no program"))
    status = podstatus.pod_status({"metadata": {}}, [waiting], T0)
    assert status["phase"] == "Pending"
    (container,) = status["containerStatuses"]
    assert container["state"] == {
        "waiting": {"reason": "ErrImageNeverPull", "message": "no program"}
    }
    assert container["ready"] is False


def test_a_restarted_container_counts_its_restarts_and_keeps_its_last_exit() -> None:
    restarted = ContainerState("app", "img", running_since=T1, restart_count=2, last_exit_code=3)
    (container,) = podstatus.pod_status({"metadata": {}}, [restarted], T1)["containerStatuses"]
    assert container["restartCount"] == 2
    assert container["lastState"] == {"terminated": {"exitCode": 3}}


def service(
    name: str, selector: dict[str, str], *ports: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": selector, "ports": list(ports), **spec},
    }


def serving(
    name: str, created: str, labels: dict[str, str], local: int, namespace: str = "shop"
) -> ServingPod:
    return ServingPod(namespace, name, labels, (created, name), {8080: local, "http": local})


def test_each_service_port_is_served_by_the_oldest_matching_pod() -> None:
    services = [
        service("checkout", {"app": "checkout"}, {"port": 80, "targetPort": "http"}),
        service("checkout-direct", {"app": "checkout"}, {"port": 8080}),  # targetPort = port
        service("checkout-number", {"app": "checkout"}, {"port": 81, "targetPort": 8080}),
        service(
            "fork", {"sandboxmesh.io/fork": "checkout-sbx-pr-1"}, {"port": 80, "targetPort": "http"}
        ),
        service("headless-manual", {}, {"port": 80}),
        service("external", {"app": "checkout"}, {"port": 80}, type="ExternalName"),
        service("unmatched", {"app": "cart"}, {"port": 80}),
        service("udp", {"app": "checkout"}, {"port": 53, "protocol": "UDP"}),
        service("other-port", {"app": "checkout"}, {"port": 82, "targetPort": "grpc"}),
    ]
    pods = [
        serving("checkout-new", T1, {"app": "checkout"}, 41002),
        serving("checkout-old", T0, {"app": "checkout", "tier": "backend"}, 41001),
        serving("fork", T1, {"sandboxmesh.io/fork": "checkout-sbx-pr-1"}, 41003),
        serving("elsewhere", "", {"app": "checkout"}, 41009, namespace="other"),
    ]
    assert endpoints.service_addresses(services, pods) == {
        ("shop", "checkout", 80): ("127.0.0.1", 41001),
        ("shop", "checkout-direct", 8080): ("127.0.0.1", 41001),
        ("shop", "checkout-number", 81): ("127.0.0.1", 41001),
        ("shop", "fork", 80): ("127.0.0.1", 41003),
    }


def test_a_direct_network_reaches_services_where_they_are_served() -> None:
    network = endpoints.DirectNetwork()
    network.serve("shop", "checkout", 80, ("127.0.0.1", 41001))
    assert network.reach("shop", "checkout", 80) == ("127.0.0.1", 41001)
    network.serve("shop", "checkout", 80, None)
    assert network.reach("shop", "checkout", 80) is None


def test_the_local_node_takes_only_pods_that_ask_for_it() -> None:
    manifest = node.node_manifest("local-1")
    (taint,) = manifest["spec"]["taints"]
    assert taint["effect"] == "NoSchedule"
    placement = node.placement("local-1")
    assert placement["nodeSelector"] == {"kubernetes.io/hostname": "local-1"}
    assert manifest["metadata"]["labels"]["kubernetes.io/hostname"] == "local-1"
    (toleration,) = placement["tolerations"]
    assert (toleration["key"], toleration["effect"]) == (taint["key"], taint["effect"])
    assert "annotations" not in manifest["metadata"]  # KWOK manages annotated nodes only


def test_the_local_node_is_schedulable_once_ready_and_only_our_taint_is_left() -> None:
    ready = {"conditions": node.node_status(T0)["conditions"]}
    ours = {"taints": [{"key": node.TAINT_KEY, "effect": "NoSchedule"}]}
    not_ready = {
        "taints": [*ours["taints"], {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
    }
    assert node.is_schedulable({"spec": ours, "status": ready})
    assert not node.is_schedulable({"spec": not_ready, "status": ready})
    assert not node.is_schedulable({"spec": ours, "status": {}})
