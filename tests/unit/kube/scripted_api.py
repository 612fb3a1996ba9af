"""A lightkube client whose transport answers lists and watches from a script (no network).

For unit tests of the loops over the client: what the list-then-watch loop does after a
watch is cut off, an ERROR event, a callback's own error. The integration tests run the same
loops against the real API server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import AsyncClient, KubeConfig

Json = dict[str, Any]
#: A watch stream: events (type, object) and errors, raised where they stand. After the
#: last step the stream stays open without a word, as an idle watch does.
WatchScript = list[tuple[str, Json] | BaseException]


def config_map(name: str, version: str = "1") -> Json:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": version},
    }


def sandbox(name: str, version: str = "1") -> Json:
    return {
        "apiVersion": "sandboxmesh.io/v1alpha1",
        "kind": "Sandbox",
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {"cluster": "local", "routingKey": "abcdefghij12", "forks": []},
    }


class _Stream(httpx2.AsyncByteStream):
    def __init__(self, steps: WatchScript) -> None:
        self.steps = steps

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for step in self.steps:
            if isinstance(step, BaseException):
                raise step
            event, obj = step
            yield json.dumps({"type": event, "object": obj}).encode() + b"\n"
        await asyncio.Event().wait()


@dataclass
class ScriptedApi:
    """Each list request takes the next of `lists` (the last one repeats); each watch
    request the next of `watches` (an idle stream once they are used up)."""

    lists: list[list[Json]]
    watches: list[WatchScript] = field(default_factory=list)
    #: Every request, as "list" or "watch", in order.
    requests: list[str] = field(default_factory=list)
    #: Raised by the transport for a watch request, instead of answering (when set).
    watch_fails_with: BaseException | None = None

    def client(self) -> AsyncClient:
        config = KubeConfig.from_dict(
            {
                "clusters": [{"name": "scripted", "cluster": {"server": "http://kube.invalid"}}],
                "users": [{"name": "tests", "user": {"token": "unused"}}],
                "contexts": [
                    {"name": "scripted", "context": {"cluster": "scripted", "user": "tests"}}
                ],
                "current-context": "scripted",
            }
        )
        return AsyncClient(config=config, transport=httpx2.MockTransport(self._answer))

    async def _answer(self, request: httpx2.Request) -> httpx2.Response:
        headers = {"Content-Type": "application/json"}
        if request.url.path.endswith("/routegroups"):
            # The route server also follows RouteGroups: none, and an idle watch (not scripted).
            if request.url.params.get("watch") == "true":
                return httpx2.Response(200, headers=headers, stream=_Stream([]))
            body = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}}
            return httpx2.Response(200, headers=headers, json={**body, "items": []})
        if request.url.params.get("watch") == "true":
            self.requests.append("watch")
            if self.watch_fails_with is not None:
                raise self.watch_fails_with
            steps = self.watches.pop(0) if self.watches else []
            return httpx2.Response(200, headers=headers, stream=_Stream(steps))
        self.requests.append("list")
        items = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        version = str(len(self.requests))
        body = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version}}
        return httpx2.Response(200, headers=headers, json={**body, "items": items})
