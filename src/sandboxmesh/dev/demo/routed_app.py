"""The demo app on the real node, behind the routers the chart's route server manages.

What `sandboxmesh demo` runs and what the two-hop tests and the routing benchmark reuse: the
app's Deployments (containers of the demo app's image) and its routed Services, applied to
the cluster; once the route server has put routers in front of every Service, a request to
the frontend's NodePort goes router -> frontend -> router -> checkout -> router -> payments,
each hop routed at its destination by the Sandbox objects.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lightkube import Client, KubeConfig, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Service

from sandboxmesh.dev.cluster.node.configs import NODE_IP
from sandboxmesh.dev.demo import manifests
from sandboxmesh.kube import errors as kube_errors
from sandboxmesh.routing import BAGGAGE_HEADER, BAGGAGE_MEMBER
from sandboxmesh.routing.core.routers import Stage, stage

#: What a look at the app may meet while it is still coming up.
_NOT_YET: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    ValueError,
    KeyError,
    *kube_errors.CLIENT_ERRORS,
)

FIELD_MANAGER = "sandboxmesh-demo"


class AppNotReady(RuntimeError):
    """The app did not answer through its routers in time; the message says what it did."""


def versions(body: dict[str, Any]) -> dict[str, str]:
    """Which version served each hop of a demo response: service -> `baseline` or sandbox."""
    return {hop["service"]: hop["version"] for hop in body["hops"]}


def key_headers(key: str | None) -> dict[str, str]:
    """The headers of a request carrying routing key `key` (in W3C baggage, among others)."""
    if key is None:
        return {}
    return {BAGGAGE_HEADER: f"userId=demo,{BAGGAGE_MEMBER}={key}"}


@dataclass(frozen=True)
class RoutedApp:
    namespace: str
    #: The frontend's NodePort on the node's address: reachable from this machine.
    frontend_url: str

    def route(self, key: str | None = None, *, http: httpx.Client | None = None) -> dict[str, str]:
        """GET the frontend (with `key` in baggage) and return which version served each hop;
        raises httpx.HTTPStatusError on an error answer."""
        with contextlib.ExitStack() as stack:
            if http is None:
                http = stack.enter_context(httpx.Client(timeout=10))
            response = http.get(self.frontend_url, headers=key_headers(key))
            response.raise_for_status()
            return versions(response.json())


def _client(kubeconfig: Path) -> Client:
    return Client(config=KubeConfig.from_file(kubeconfig), field_manager=FIELD_MANAGER)


def apply_services(kubeconfig: Path, namespace: str, frontend_node_port: int = 0) -> RoutedApp:
    """Apply the app's Services (server-side apply) in `namespace`, creating it if missing;
    the frontend's is a NodePort (`frontend_node_port`, 0: any free one)."""
    with contextlib.closing(_client(kubeconfig)) as client:
        client.apply(Namespace(metadata=ObjectMeta(name=namespace)))
        for obj in manifests.service_objects(namespace, frontend_node_port):
            client.apply(codecs.from_dict(obj), force=True)
        frontend = client.get(Service, manifests.FRONTEND, namespace=namespace)
    assert frontend.spec is not None
    assert frontend.spec.ports
    return RoutedApp(namespace, f"http://{NODE_IP}:{frontend.spec.ports[0].nodePort}/")


def apply_deployments(kubeconfig: Path, namespace: str) -> None:
    with contextlib.closing(_client(kubeconfig)) as client:
        for obj in manifests.deployment_objects(namespace):
            client.apply(codecs.from_dict(obj), force=True)


def unrouted(client: Client, namespace: str) -> list[str]:
    """The app's Services whose selector does not point at their routers yet."""
    return [
        s.name
        for s in manifests.SERVICES
        if stage(client.get(Service, s.name, namespace=namespace).to_dict()) != Stage.ROUTED
    ]


def wait_services_routed(kubeconfig: Path, namespace: str, timeout: float) -> None:
    """Wait until every Service of the app points at its routers."""
    deadline = time.monotonic() + timeout
    with contextlib.closing(_client(kubeconfig)) as kube:
        while waiting := unrouted(kube, namespace):
            if time.monotonic() > deadline:
                raise AppNotReady(
                    f"no routers in front of {', '.join(waiting)} within {timeout:g}s"
                )
            time.sleep(0.2)


def wait_routed_baseline(kubeconfig: Path, app: RoutedApp, timeout: float) -> None:
    """Wait until every Service is behind its routers and the frontend answers through them,
    every hop served by its baseline."""
    wanted = {s.name: "baseline" for s in manifests.SERVICES}
    deadline = time.monotonic() + timeout
    last: object = "nothing"
    with httpx.Client(timeout=5) as http, contextlib.closing(_client(kubeconfig)) as kube:
        while True:
            try:
                waiting = unrouted(kube, app.namespace)
                last = f"no routers yet in front of {', '.join(waiting)}" if waiting else None
                if not waiting:
                    last = app.route(http=http)
                    if last == wanted:
                        return
            except _NOT_YET as error:
                last = error
            if time.monotonic() > deadline:
                raise AppNotReady(
                    f"the demo app did not answer through its routers within {timeout:g}s "
                    f"(last: {last})"
                )
            time.sleep(0.2)


def deploy(
    kubeconfig: Path, namespace: str, *, frontend_node_port: int = 0, timeout: float = 180
) -> RoutedApp:
    """Apply the app and wait until it answers through its routers.

    The Services go behind their routers before any Pod of the app exists. The app keeps its
    connections to the next hop alive, as most clients do; one opened while a Service still
    pointed at its baseline Pods (or in kube-proxy's moment of lag after the switch) would
    reach the baseline straight, past the routers, for as long as it lives (docs/routing.md).
    With no Pod behind a Service before its switch, there is no such connection to open."""
    deadline = time.monotonic() + timeout
    app = apply_services(kubeconfig, namespace, frontend_node_port)
    wait_services_routed(kubeconfig, namespace, timeout)
    apply_deployments(kubeconfig, namespace)
    wait_routed_baseline(kubeconfig, app, max(1.0, deadline - time.monotonic()))
    return app
