"""The demo app's Kubernetes objects, and the demo's sandbox.

Three services in a chain, `frontend` -> `checkout` -> `payments`, each a Deployment of the
image `DEMO_IMAGE` (whose program, on a local node, is `sandboxmesh.demo.app`) behind a
Service on port 80. Their Pods ask for the local node (`placement`), and everything a fork
copies from them (image, env, ports, probe, placement) keeps a fork runnable there too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from sandboxmesh.localpods import Program, Programs
from sandboxmesh.spec import SandboxManifest

NAMESPACE = "demo"
DEMO_IMAGE = "sandboxmesh/demo-app:0.1.0"
SERVICE_PORT = 80
CONTAINER_PORT = 8080
CONTAINER = "app"
PART_OF = {"app.kubernetes.io/part-of": "sandboxmesh-demo"}
#: The customization the demo's sandbox makes on its fork, so it is visibly different.
FORK_MESSAGE_ENV = "DEMO_MESSAGE"

Json = dict[str, Any]


@dataclass(frozen=True)
class DemoService:
    name: str
    #: The Services it calls on every request, in order.
    calls: tuple[str, ...] = ()


SERVICES = (
    DemoService("frontend", ("checkout",)),
    DemoService("checkout", ("payments",)),
    DemoService("payments"),
)
FRONTEND = SERVICES[0].name


def programs() -> Programs:
    """The local program of the demo's image: this interpreter running the demo app."""
    program = Program(
        argv=(sys.executable, "-m", "sandboxmesh.demo.app"), env={"PYTHONUNBUFFERED": "1"}
    )
    return Programs({DEMO_IMAGE: program})


def service(namespace: str, demo: DemoService) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": demo.name, "namespace": namespace, "labels": dict(PART_OF)},
        "spec": {
            "selector": {"app": demo.name},
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}],
        },
    }


def deployment(namespace: str, demo: DemoService, placement: Json) -> Json:
    labels = {"app": demo.name, **PART_OF}
    container = {
        "name": CONTAINER,
        "image": DEMO_IMAGE,
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT}],
        "env": [
            {"name": "DEMO_SERVICE", "value": demo.name},
            {"name": "DEMO_CALLS", "value": ",".join(demo.calls)},
        ],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": demo.name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": demo.name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **placement,
                    "terminationGracePeriodSeconds": 5,
                    "containers": [container],
                },
            },
        },
    }


def app_objects(namespace: str, placement: Json) -> list[Json]:
    """Services first: Pods get the Service links of the Services that exist when they start."""
    return [service(namespace, s) for s in SERVICES] + [
        deployment(namespace, s, placement) for s in SERVICES
    ]


def sandbox(
    name: str, *, cluster: str, namespace: str = NAMESPACE, message: str = ""
) -> SandboxManifest:
    """A sandbox forking `checkout`, whose fork shows `message` in its hop."""
    text = message or f"checkout as changed in sandbox {name}"
    return SandboxManifest.model_validate(
        {
            "name": name,
            "spec": {
                "cluster": cluster,
                "description": "sandboxmesh demo: a changed checkout",
                "labels": {"demo": "true"},
                "forks": [
                    {
                        "forkOf": {
                            "kind": "Deployment",
                            "namespace": namespace,
                            "name": "checkout",
                        },
                        "customizations": {
                            "env": [
                                {"container": CONTAINER, "name": FORK_MESSAGE_ENV, "value": text}
                            ]
                        },
                    }
                ],
            },
        }
    )
