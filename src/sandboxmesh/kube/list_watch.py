"""One list-then-watch loop for every component that follows objects of the API server.

What a caller of `list_then_watch` may rely on:

- `on_list(objects)` receives every object of one complete list. Replace what you hold with
  it: objects deleted while the watch was away are then not kept. It runs first, again after
  every failure, and every `resync_seconds` (a safety net behind the watch).
- `on_event(type, object)` receives each watch event after that list, in order (`type` is
  ADDED, MODIFIED or DELETED; objects are the JSON dicts the API server sent).
- A failed call to the API server (any `KubeError`: a refusal, 410 Gone for an expired
  resourceVersion, a dropped or refused connection, the API server restarting) is logged in
  one line, handed to `on_failure`, and followed by a new list after a backoff (exponential
  with full jitter; reset once a watch has stayed up longer than the longest delay).
- Anything else (an error raised by a callback: a bug) ends the loop with that error, for
  the caller's supervisor to act on. Otherwise the loop runs until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from lightkube import AsyncClient

from sandboxmesh.backoff import Backoff
from sandboxmesh.kube import errors, resources

log = logging.getLogger(__name__)

Json = dict[str, Any]


@dataclass(frozen=True)
class Selection:
    """What to list and watch: a lightkube resource class and optional selectors."""

    resource: Any
    #: `lightkube.ALL_NS` for every namespace of a namespaced resource; None for a
    #: cluster-scoped one.
    namespace: str | None = None
    labels: Mapping[str, Any] | None = None
    fields: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        return str(self.resource.__name__)

    def query(self) -> dict[str, Any]:
        selectors: dict[str, Any] = {"labels": self.labels, "fields": self.fields}
        if self.namespace is not None:
            selectors["namespace"] = self.namespace
        return selectors


@dataclass(frozen=True)
class ListWatchSettings:
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 10.0
    #: List again this often even when nothing failed; None: only after failures.
    resync_seconds: float | None = 600.0


def _ignore(error: errors.KubeError) -> None:
    pass


async def list_then_watch(
    client: AsyncClient,
    selection: Selection,
    on_list: Callable[[list[Json]], None],
    on_event: Callable[[str, Json], None],
    *,
    settings: ListWatchSettings | None = None,
    on_failure: Callable[[errors.KubeError], None] = _ignore,
) -> NoReturn:
    """List, then watch from the list's resourceVersion, for ever (see the module's doc)."""
    settings = settings or ListWatchSettings()
    backoff = Backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
    while True:
        started = time.monotonic()
        resync = asyncio.timeout(settings.resync_seconds)
        try:
            async with resync:
                await _list_and_watch(client, selection, on_list, on_event)
        except errors.KubeError as error:
            if time.monotonic() - started > settings.retry_max_seconds:
                backoff.reset()
            delay = backoff.next_delay()
            on_failure(error)
            log.warning(
                "watch of %s failed (%s: %s); listing again in %.1fs",
                selection,
                type(error).__name__,
                error,
                delay,
            )
            await asyncio.sleep(delay)
        except TimeoutError:
            if not resync.expired():
                raise
            log.debug("watch of %s: periodic resync, listing again", selection)


async def _list_and_watch(
    client: AsyncClient,
    selection: Selection,
    on_list: Callable[[list[Json]], None],
    on_event: Callable[[str, Json], None],
) -> None:
    # Only the client's calls are translated: a callback's own error is not a watch failure.
    listing = client.list(selection.resource, **selection.query())
    with errors.translated():
        objects = [resources.to_dict(obj) async for obj in listing]
    on_list(objects)
    watch = client.watch(
        selection.resource, resource_version=listing.resourceVersion, **selection.query()
    )
    async with contextlib.aclosing(_translated(watch)) as events:
        async for event, obj in events:
            on_event(event, resources.to_dict(obj))


async def _translated(watch: Any) -> AsyncGenerator[tuple[str, Any], None]:
    """The watch's events, its failures raised as KubeError; closes the watch's stream."""
    iterator = aiter(watch)
    try:
        while True:
            with errors.translated():
                try:
                    event, obj = await anext(iterator)
                except StopAsyncIteration:
                    return
            yield event, obj
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            with contextlib.suppress(*errors.CLIENT_ERRORS):
                await close()
