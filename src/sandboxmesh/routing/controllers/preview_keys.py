"""Keeps the preview gateway's sign-in keys current from the agent's ConfigMap.

The agent writes the control plane's issuer, authorize URL and public keys into the ConfigMap
`spec.preview.PREVIEW_KEYS_CONFIGMAP` of its namespace (docs/preview-urls.md); the route
server watches that one object (a field selector on its name, so its Role may name it) and
renders it into the gateway's jwt_authn filter. Until it exists, authenticated previews
answer 503 saying so; public ones work regardless.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap

from sandboxmesh import kube
from sandboxmesh.routing.core import preview_signin
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.spec import preview

log = logging.getLogger(__name__)


class PreviewKeysWatcher:
    def __init__(
        self, client: AsyncClient, state: RouteState, metrics: RouteServerMetrics, namespace: str
    ) -> None:
        self.client = client
        self.state = state
        self.metrics = metrics
        self.namespace = namespace

    async def run(self) -> NoReturn:
        await kube.list_then_watch(
            self.client,
            kube.Selection(
                ConfigMap,
                namespace=self.namespace,
                fields={"metadata.name": preview.PREVIEW_KEYS_CONFIGMAP},
            ),
            self._listed,
            self._changed,
            on_failure=lambda _: self.metrics.watch_restarts.inc(),
        )

    def _listed(self, objects: list[dict[str, Any]]) -> None:
        self._set(objects[0] if objects else None)

    def _changed(self, event: str, raw: dict[str, Any]) -> None:
        self._set(None if event == "DELETED" else raw)

    def _set(self, raw: dict[str, Any] | None) -> None:
        keys = preview_signin.keys_from_configmap((raw or {}).get("data"))
        if raw is not None and keys is None:
            log.warning(
                "preview gateway: ConfigMap %s/%s does not hold usable keys; authenticated "
                "previews answer 503 until it does",
                self.namespace,
                preview.PREVIEW_KEYS_CONFIGMAP,
            )
        elif keys != self.state.preview_keys:
            log.info(
                "preview gateway: %s signing keys of %s",
                "loaded" if keys else "no",
                keys.issuer if keys else "any control plane",
            )
        self.metrics.preview_keys.set(1 if keys else 0)
        self.state.set_preview_keys(keys)
