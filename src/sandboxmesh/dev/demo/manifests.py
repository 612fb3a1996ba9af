"""The demo app's Kubernetes objects, and the demo's sandbox.

Three services in a chain, `frontend` -> `checkout` -> `payments`, each a Deployment of the
demo app's image (deploy/images/demo-app, the program `sandboxmesh.dev.demo.app`) behind a
Service on port 80 that opts in to routing (`sandboxmesh.io/route: "true"`): the chart's
route server puts routers in front of each, so every hop is routed at its destination. The
frontend's Service may also be a NodePort, the demo's front door on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandboxmesh import __version__
from sandboxmesh.routing.core.routers import ANNOTATION_ROUTE
from sandboxmesh.spec import SandboxManifest

NAMESPACE = "demo"
#: Built by `sandboxmesh dev images build` (dev.cluster.images.catalog.DEMO_APP_IMAGE).
DEMO_IMAGE = f"ghcr.io/sandboxmesh/demo-app:{__version__}"
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


def service(namespace: str, demo: DemoService, node_port: int | None = None) -> Json:
    """The Service, routed; a NodePort (0: any free one) when `node_port` is given."""
    port: Json = {"name": "http", "port": SERVICE_PORT, "targetPort": "http"}
    spec: Json = {"selector": {"app": demo.name}, "ports": [port]}
    if node_port is not None:
        spec["type"] = "NodePort"
        if node_port:
            port["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": demo.name,
            "namespace": namespace,
            "labels": dict(PART_OF),
            "annotations": {ANNOTATION_ROUTE: "true"},
        },
        "spec": spec,
    }


def deployment(namespace: str, demo: DemoService) -> Json:
    labels = {"app": demo.name, **PART_OF}
    container = {
        "name": CONTAINER,
        "image": DEMO_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT}],
        "env": [
            {"name": "DEMO_SERVICE", "value": demo.name},
            {"name": "DEMO_CALLS", "value": ",".join(demo.calls)},
        ],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": "10m", "memory": "24Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
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
                    "terminationGracePeriodSeconds": 5,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
                    "containers": [container],
                },
            },
        },
    }


def service_objects(namespace: str, frontend_node_port: int | None = None) -> list[Json]:
    """The app's Services; the frontend's is a NodePort when `frontend_node_port` is given
    (0: any). Apply them before the Deployments: Pods get the Service links of the Services
    that exist when they start."""
    return [
        service(namespace, s, frontend_node_port if s.name == FRONTEND else None) for s in SERVICES
    ]


def deployment_objects(namespace: str) -> list[Json]:
    return [deployment(namespace, s) for s in SERVICES]


def sandbox(
    name: str,
    *,
    cluster: str,
    namespace: str = NAMESPACE,
    message: str = "",
    customizations: Json | None = None,
    previews: bool = False,
) -> SandboxManifest:
    """A sandbox forking `checkout`, whose fork shows `message` in its hop (or makes the
    `customizations` given instead); with `previews`, two endpoints on the frontend (preview
    URLs where the cluster has a preview domain): `shop`, public, and `web`, for members."""
    text = message or f"checkout as changed in sandbox {name}"
    changes = customizations or {
        "env": [{"container": CONTAINER, "name": FORK_MESSAGE_ENV, "value": text}]
    }
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
                        "customizations": changes,
                    }
                ],
                **({"endpoints": preview_endpoints(namespace)} if previews else {}),
            },
        }
    )


def preview_endpoints(namespace: str) -> list[Json]:
    entry = {"namespace": namespace, "service": FRONTEND}
    return [{"name": "shop", **entry, "access": "public"}, {"name": "web", **entry}]
