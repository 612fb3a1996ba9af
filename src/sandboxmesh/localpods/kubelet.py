"""The local node's kubelet: runs the Pods bound to it as local processes and reports them.

Event-driven (list, then watch, of the Pods bound to the node and of Services): one worker per
Pod starts its containers' processes, reports the Pod's status as they start and pass their
readiness checks, and on deletion takes the Pod out of its Services, waits `drain_seconds`,
stops the processes within the Pod's grace period and removes the Pod, as a kubelet does.

The Service network hears where each Service is served (`endpoints.service_addresses`)
before a Pod is reported Ready, so whatever reacts to the Pod turning Ready (a Deployment, a
fork, a route) finds its Service already served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.resources.core_v1 import Pod, Service
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.localpods import endpoints, node, podspec, podstatus
from sandboxmesh.localpods.endpoints import ServiceNetwork, ServicePort, ServingPod
from sandboxmesh.localpods.processes import ContainerProcess, ProcessSettings, rfc3339
from sandboxmesh.localpods.programs import Programs

log = logging.getLogger(__name__)

Json = dict[str, Any]
RETRY_SECONDS = 1.0
#: Variables a process inherits from this one (a Pod's container inherits nothing else).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")


@dataclass(frozen=True)
class LocalNodeSettings:
    name: str
    #: Where each Pod's container logs go (`<namespace>_<pod>_<container>.log`).
    workdir: Path
    programs: Programs
    kubeconfig: Path | None = None
    #: Seconds between a Pod leaving its Services and SIGTERM to its processes.
    drain_seconds: float = 0.5
    #: Upper bound on a Pod's terminationGracePeriodSeconds (local runs stop quickly).
    max_grace_seconds: float = 5.0
    processes: ProcessSettings = field(default_factory=ProcessSettings)
    #: Delete the Node when the kubelet stops (its Pods are then garbage-collected).
    delete_node: bool = True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _uid(pod: Json) -> str:
    return str(pod["metadata"]["uid"])


def _deleting(pod: Json) -> bool:
    return pod["metadata"].get("deletionTimestamp") is not None


class PodWorker:
    """One Pod on the local node, from its first sight to its removal."""

    def __init__(self, kubelet: Kubelet, pod: Json) -> None:
        self.kubelet = kubelet
        self.pod = pod
        self.ready = False
        self.gone = False
        self.containers: list[ContainerProcess] = []
        self.waiting: list[podstatus.ContainerState] = []
        self.local_ports: dict[int | str, int] = {}
        self._changed = asyncio.Event()
        self._reported: list[podstatus.ContainerState] | None = None

    @property
    def key(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    def update(self, pod: Json) -> None:
        self.pod = pod
        if _deleting(pod):
            self._changed.set()

    def vanish(self) -> None:
        """The Pod left the API (deleted without us): stop at once, delete nothing."""
        self.gone = True
        self._changed.set()

    def serving(self) -> ServingPod | None:
        if not self.ready or self.gone or _deleting(self.pod):
            return None
        meta = self.pod["metadata"]
        return ServingPod(
            namespace=meta["namespace"],
            name=meta["name"],
            labels=meta.get("labels") or {},
            age_key=(meta.get("creationTimestamp", ""), meta["name"]),
            ports=self.local_ports,
        )

    def _start(self) -> None:
        settings = self.kubelet.settings
        meta = self.pod["metadata"]
        links = self.kubelet.service_links(meta["namespace"])
        for plan in podspec.container_plans(self.pod, settings.programs):
            if plan.problem is not None:
                self.waiting.append(
                    podstatus.ContainerState(plan.name, plan.image, waiting=plan.problem)
                )
                continue
            ports = {port.container_port: _free_port() for port in plan.ports}
            for port in plan.ports:
                self.local_ports[port.container_port] = ports[port.container_port]
                if port.name:
                    self.local_ports[port.name] = ports[port.container_port]
            env = podspec.process_env(
                self.pod, plan, base=self.kubelet.base_env, links=links, local_ports=ports
            )
            log_path = settings.workdir / f"{meta['namespace']}_{meta['name']}_{plan.name}.log"
            process = ContainerProcess(
                plan, env, ports, log_path, self._changed.set, settings.processes
            )
            self.containers.append(process)
            process.start()

    def _states(self) -> list[podstatus.ContainerState]:
        return [c.state for c in self.containers] + self.waiting

    async def run(self) -> None:
        try:
            if not _deleting(self.pod):
                self._start()
                await self._report()
            while not (self.gone or _deleting(self.pod)):
                await self._changed.wait()
                self._changed.clear()
                if self.gone or _deleting(self.pod):
                    break
                ready = bool(self._states()) and all(s.ready for s in self._states())
                if ready != self.ready:
                    self.ready = ready
                    # Served before reported Ready: see the module's docstring.
                    self.kubelet.sync_network()
                await self._report()
            self.kubelet.sync_network()
            grace = min(
                float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)),
                self.kubelet.settings.max_grace_seconds,
            )
            if not self.gone:
                await asyncio.sleep(min(self.kubelet.settings.drain_seconds, grace))
            await self._stop(grace)
            if not self.gone:
                await self.kubelet.remove(self.pod)
        finally:
            # Also on cancellation (the kubelet stopping): no process outlives its worker.
            await self._stop(self.kubelet.settings.max_grace_seconds)
            self.kubelet.forget(self)

    async def _stop(self, grace: float) -> None:
        await asyncio.gather(*(c.stop(grace) for c in self.containers))

    async def _report(self) -> None:
        meta = self.pod["metadata"]
        states = self._states()
        if states == self._reported:
            return
        status = podstatus.pod_status(self.pod, states, rfc3339())
        try:
            await self.kubelet.client.patch(
                Pod.Status,
                meta["name"],
                {"status": status},
                namespace=meta["namespace"],
                patch_type=PatchType.MERGE,
            )
        except ApiError as error:
            if error.status.code == 404:
                return  # deleted meanwhile: the watch brings the news
            self._retry_report(error)
        except kube.CLIENT_ERRORS as error:
            self._retry_report(error)
        else:
            self._reported = states

    def _retry_report(self, error: Exception) -> None:
        log.warning("local pods: status of %s not reported (%s); retrying", self.key, error)
        asyncio.get_running_loop().call_later(RETRY_SECONDS, self._changed.set)


class Kubelet:
    """Runs inside an asyncio loop: `start()` registers the node and begins watching."""

    def __init__(
        self, client: AsyncClient, settings: LocalNodeSettings, network: ServiceNetwork
    ) -> None:
        self.client = client
        self.settings = settings
        self.network = network
        self.base_env = {k: v for k, v in os.environ.items() if k in INHERITED_ENV}
        self.services: dict[tuple[str, str], Json] = {}
        self.workers: dict[str, PodWorker] = {}
        self._served: dict[ServicePort, endpoints.Address] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Register the node, list Services, then watch; return once Pods can land here."""
        self.settings.workdir.mkdir(parents=True, exist_ok=True)
        await node.register(self.client, self.settings.name)
        # Services first: a Pod's processes get the Service links of its namespace.
        services_listed = asyncio.Event()

        def on_services(objects: list[Json]) -> None:
            self._relist_services(objects)
            services_listed.set()

        self._spawn(self._follow(Service, None, self._on_service, on_services))
        await services_listed.wait()
        pods_here = {"spec.nodeName": self.settings.name}
        self._spawn(self._follow(Pod, pods_here, self._on_pod, self._relist_pods))
        self._spawn(node.renew_forever(self.client, self.settings.name))
        await node.wait_schedulable(self.client, self.settings.name)
        log.info("local pods: node %s is up", self.settings.name)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coroutine))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        workers = list(self._workers)
        for task in workers:
            task.cancel()
        await asyncio.gather(*self._tasks, *workers, return_exceptions=True)
        for key in list(self._served):
            self._serve(key, None)
        if self.settings.delete_node:
            with contextlib.suppress(*kube.CLIENT_ERRORS, TimeoutError):
                await asyncio.wait_for(node.unregister(self.client, self.settings.name), 10)

    # -- what the workers call -------------------------------------------------------------

    def service_links(self, namespace: str) -> dict[str, str]:
        return podspec.service_links(namespace, self.services.values(), self.network.reach)

    def sync_network(self) -> None:
        """Tell the network about every Service port whose serving process changed."""
        serving = [p for w in self.workers.values() if (p := w.serving()) is not None]
        wanted = endpoints.service_addresses(self.services.values(), serving)
        for key in self._served.keys() - wanted.keys():
            self._serve(key, None)
        for key, address in wanted.items():
            if self._served.get(key) != address:
                self._serve(key, address)

    def _serve(self, key: ServicePort, address: endpoints.Address | None) -> None:
        if address is None:
            self._served.pop(key, None)
        else:
            self._served[key] = address
        where = "nowhere" if address is None else f"at {address[0]}:{address[1]}"
        log.info("local pods: Service %s/%s:%d served %s", *key, where)
        self.network.serve(*key, address)

    async def remove(self, pod: Json, attempts: int = 5) -> None:
        """Finish a deletion, as the kubelet does once the containers are gone."""
        meta = pod["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        for _ in range(attempts):
            try:
                await self.client.delete(
                    Pod, meta["name"], namespace=meta["namespace"], grace_period=0
                )
            except ApiError as error:
                if error.status.code != 404:
                    log.warning("local pods: removing %s: %s", where, error)
                return
            except kube.CLIENT_ERRORS as error:
                log.warning("local pods: removing %s: %s; retrying", where, error)
                await asyncio.sleep(RETRY_SECONDS)
            else:
                return

    def forget(self, worker: PodWorker) -> None:
        if self.workers.get(_uid(worker.pod)) is worker:
            del self.workers[_uid(worker.pod)]
            self.sync_network()

    # -- watches ---------------------------------------------------------------------------

    def _on_pod(self, event: str, pod: Json) -> None:
        uid = _uid(pod)
        worker = self.workers.get(uid)
        if event == "DELETED":
            if worker is not None:
                worker.vanish()
            return
        if worker is not None:
            worker.update(pod)
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        task = asyncio.create_task(worker.run(), name=f"pod {worker.key}")
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    def _relist_pods(self, listed: list[Json]) -> None:
        uids = {_uid(pod) for pod in listed}
        for uid, worker in list(self.workers.items()):
            if uid not in uids:
                worker.vanish()
        for pod in listed:
            self._on_pod("ADDED", pod)

    def _on_service(self, event: str, service: Json) -> None:
        key = (service["metadata"]["namespace"], service["metadata"]["name"])
        if event == "DELETED":
            self.services.pop(key, None)
        else:
            self.services[key] = service
        self.sync_network()

    def _relist_services(self, listed: list[Json]) -> None:
        self.services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in listed}
        self.sync_network()

    async def _follow(
        self,
        resource: type[Pod] | type[Service],
        fields: dict[str, Any] | None,
        on_event: Callable[[str, Json], None],
        on_list: Callable[[list[Json]], None],
    ) -> None:
        """Watch until cancelled (the shared loop: after an error it lists again, so that
        nothing missed meanwhile is kept)."""
        await kube.list_then_watch(
            self.client,
            kube.Selection(resource, namespace=ALL_NS, fields=fields),
            on_list,
            on_event,
            settings=kube.ListWatchSettings(retry_max_seconds=RETRY_SECONDS),
        )
