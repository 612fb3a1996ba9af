"""What a local node runs for a Pod: programs by image, environment, ports, readiness, links."""

from __future__ import annotations

from typing import Any

import pytest

from sandboxmesh.localpods import podspec
from sandboxmesh.localpods.programs import Program, Programs, repository

APP = Program(("python", "-m", "app"), env={"PYTHONUNBUFFERED": "1", "GREETING": "program"})
PROGRAMS = Programs({"registry.example:5000/shop/app:1.0": APP})


def pod(**container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout-abc", "namespace": "shop", "uid": "u-1"},
        "spec": {
            "nodeName": "local-1",
            "containers": [
                {"name": "app", "image": "registry.example:5000/shop/app:1.0", **container}
            ],
        },
    }


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("app", "app"),
        ("app:1", "app"),
        ("registry.example:5000/shop/app", "registry.example:5000/shop/app"),
        ("registry.example:5000/shop/app:1.0", "registry.example:5000/shop/app"),
        ("shop/app@sha256:abc", "shop/app"),
        ("shop/app:1@sha256:abc", "shop/app"),
    ],
)
def test_the_repository_of_an_image_drops_tag_and_digest_not_the_registry_port(
    image: str, expected: str
) -> None:
    assert repository(image) == expected


def test_an_image_runs_its_program_and_another_tag_of_its_repository_the_same() -> None:
    assert PROGRAMS.for_image("registry.example:5000/shop/app:1.0") is APP
    assert PROGRAMS.for_image("registry.example:5000/shop/app:pr-42") is APP
    assert PROGRAMS.for_image("registry.example:5000/shop/other:1.0") is None
    assert PROGRAMS.for_image("elsewhere/shop/app:1.0") is None


def test_a_container_without_a_program_cannot_run() -> None:
    (plan,) = podspec.container_plans(pod(image="nginx:1.27"), PROGRAMS)
    assert plan.problem is not None
    assert plan.problem[0] == podspec.NO_PROGRAM
    assert "nginx:1.27" in plan.problem[1]


def test_env_takes_literal_values_and_the_pods_own_fields() -> None:
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "EMPTY"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    (plan,) = podspec.container_plans(pod(env=env), PROGRAMS)
    assert plan.problem is None
    assert dict(plan.env) == {
        "GREETING": "hello",
        "EMPTY": "",
        "POD": "checkout-abc",
        "NS": "shop",
        "NODE": "local-1",
    }


@pytest.mark.parametrize(
    "container",
    [
        {"env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        {"env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]},
        {"envFrom": [{"configMapRef": {"name": "settings"}}]},
    ],
)
def test_env_sources_a_local_node_cannot_provide_stop_the_container(container: Any) -> None:
    (plan,) = podspec.container_plans(pod(**container), PROGRAMS)
    assert plan.problem is not None
    assert plan.problem[0] == podspec.CONFIG_ERROR


def test_readiness_probes_the_probed_container_ports_local_port() -> None:
    ports = [{"name": "metrics", "containerPort": 9090}, {"name": "http", "containerPort": 8080}]
    http_probe = {"httpGet": {"path": "/healthz", "port": "http"}}
    (plan,) = podspec.container_plans(pod(ports=ports, readinessProbe=http_probe), PROGRAMS)
    assert plan.probe == podspec.ProbePlan(8080, "/healthz")

    tcp_probe = {"tcpSocket": {"port": 9090}}
    (plan,) = podspec.container_plans(pod(ports=ports, readinessProbe=tcp_probe), PROGRAMS)
    assert plan.probe == podspec.ProbePlan(9090, None)

    (plan,) = podspec.container_plans(pod(ports=ports), PROGRAMS)
    assert plan.probe == podspec.ProbePlan(9090, None)  # no probe: TCP on the first port

    (plan,) = podspec.container_plans(pod(), PROGRAMS)
    assert plan.probe == podspec.ProbePlan(None, None)  # no ports: ready once running


def test_udp_ports_get_no_local_port() -> None:
    ports = [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 8080}]
    (plan,) = podspec.container_plans(pod(ports=ports), PROGRAMS)
    assert plan.ports == (podspec.PortPlan(8080),)


def service(name: str, namespace: str = "shop", *ports: tuple[str | None, int]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": p, **({"name": n} if n else {})} for n, p in ports]},
    }


def test_service_links_point_where_this_machine_reaches_each_service() -> None:
    reachable = {("shop", "checkout", 80): ("127.0.0.1", 15001),
                 ("shop", "checkout", 9090): ("127.0.0.1", 15002),
                 ("shop", "cart-api", 80): ("127.0.0.1", 15003)}  # fmt: skip
    services = [
        service("checkout", "shop", ("http", 80), ("metrics", 9090)),
        service("cart-api", "shop", (None, 80)),
        service("unreached", "shop", ("http", 80)),
        service("checkout", "elsewhere", ("http", 80)),
    ]
    links = podspec.service_links("shop", services, lambda ns, s, p: reachable.get((ns, s, p)))
    assert links == {
        "CART_API_SERVICE_HOST": "127.0.0.1",
        "CART_API_SERVICE_PORT": "15003",
        "CHECKOUT_SERVICE_HOST": "127.0.0.1",
        "CHECKOUT_SERVICE_PORT": "15001",
        "CHECKOUT_SERVICE_PORT_HTTP": "15001",
        "CHECKOUT_SERVICE_PORT_METRICS": "15002",
    }


def test_process_env_layers_program_links_container_then_the_nodes_own() -> None:
    ports = [{"name": "http", "containerPort": 8080}, {"name": "admin-api", "containerPort": 9000}]
    env = [{"name": "GREETING", "value": "container"}, {"name": "PORT", "value": "8080"},
           {"name": "CHECKOUT_SERVICE_HOST", "value": "checkout.shop"}]  # fmt: skip
    subject = pod(ports=ports, env=env)
    (plan,) = podspec.container_plans(subject, PROGRAMS)
    links = {"CHECKOUT_SERVICE_HOST": "127.0.0.1", "PAYMENTS_SERVICE_HOST": "127.0.0.1"}
    result = podspec.process_env(
        subject, plan, base={"PATH": "/bin", "GREETING": "base"}, links=links,
        local_ports={8080: 41000, 9000: 41001},
    )  # fmt: skip
    assert result == {
        "PATH": "/bin",
        "PYTHONUNBUFFERED": "1",
        "GREETING": "container",  # the container's env wins over the program's and the base
        "CHECKOUT_SERVICE_HOST": "checkout.shop",  # ... and over the links, as in a kubelet
        "PAYMENTS_SERVICE_HOST": "127.0.0.1",
        "HOSTNAME": "checkout-abc",
        "SANDBOXMESH_IMAGE": "registry.example:5000/shop/app:1.0",
        "PORT": "41000",  # where the process must listen, whatever the container said
        "PORT_HTTP": "41000",
        "PORT_ADMIN_API": "41001",
    }

    subject["spec"]["enableServiceLinks"] = False
    without = podspec.process_env(
        subject, plan, base={}, links=links, local_ports={8080: 1, 9000: 2}
    )
    assert "PAYMENTS_SERVICE_HOST" not in without
