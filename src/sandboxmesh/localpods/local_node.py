"""`LocalNode`: the kubelet on its own asyncio loop in a daemon thread, for synchronous
callers (the demo, tests, benchmarks). Its methods are thread-safe."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import msgspec
from lightkube import AsyncClient, KubeConfig

from sandboxmesh.localpods import node
from sandboxmesh.localpods.endpoints import ServiceNetwork
from sandboxmesh.localpods.kubelet import Kubelet, LocalNodeSettings

T = TypeVar("T")


def warm_kube_decoders() -> None:
    """Build lightkube's decoders of the types the kubelet reads, in the calling thread.

    lightkube decodes with msgspec, which builds a type's decoder on first use; two threads
    doing that for the same type at once can crash the interpreter. A process running the
    kubelet's thread beside other Kubernetes clients builds them first.
    """
    from lightkube.core import decoders
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.coordination_v1 import Lease
    from lightkube.resources.core_v1 import Namespace, Node, Pod, Service

    for resource in (Deployment, Lease, Namespace, Node, Pod, Service):
        # Building the decoder is the point; "{}" may well lack required fields.
        with contextlib.suppress(msgspec.ValidationError):
            decoders.decode_object(b"{}", resource)
        decoders.decode_list(b'{"items": []}', resource)
    decoders.decode_status(b"{}")


class LocalNode:
    """A Kubernetes node whose Pods are local processes, until `stop()` (or the block's end)."""

    def __init__(self, settings: LocalNodeSettings, network: ServiceNetwork) -> None:
        self.settings = settings
        self.network = network
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name=f"node {settings.name}"
        )
        self._kubelet: Kubelet | None = None
        self._client: AsyncClient | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    def placement(self) -> dict[str, Any]:
        """The Pod spec fields (nodeSelector, tolerations) that put a Pod on this node."""
        return node.placement(self.name)

    def start(self, timeout: float = 30) -> LocalNode:
        warm_kube_decoders()
        self._thread.start()
        try:
            self._run(self._start(within=timeout), timeout + 10)
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self, within: float) -> None:
        path = self.settings.kubeconfig
        config = KubeConfig.from_file(path) if path else KubeConfig.from_env()
        self._client = AsyncClient(config=config, field_manager="sandboxmesh-localpods")
        self._kubelet = Kubelet(self._client, self.settings, self.network)
        async with asyncio.timeout(within):
            await self._kubelet.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self._stop(), 60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _stop(self) -> None:
        if self._kubelet is not None:
            await self._kubelet.stop()
        if self._client is not None:
            await self._client.close()

    def running_pods(self) -> list[str]:
        """`namespace/name` of every Pod whose processes run here now."""
        return self.call(lambda k: sorted(w.key for w in k.workers.values() if w.containers))

    def call(self, fn: Callable[[Kubelet], T]) -> T:
        """Run `fn(kubelet)` on the kubelet's loop and return its result (for inspection)."""

        async def run() -> T:
            assert self._kubelet is not None, "the node is not started"
            return fn(self._kubelet)

        return self._run(run(), 30)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=timeout)

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
