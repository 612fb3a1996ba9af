"""The preview keys the control plane sends (`previewKeys`, with `features=previewkeys`),
written for the cluster's preview gateway into the ConfigMap `PREVIEW_KEYS_CONFIGMAP` of the
agent's namespace (docs/preview-urls.md).

Every batch carries the keys; the ConfigMap is written (server-side apply, the agent's field
manager) only when they differ from what this process last wrote, so not on every poll. A
write the API server refuses (the agent's RBAC lacks ConfigMaps in an older chart, say) is
logged and tried again with the next batch: it never holds back the sandboxes' sync.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.agent.objects import AGENT_LABELS, FIELD_MANAGER
from sandboxmesh.spec import preview

log = logging.getLogger(__name__)


def configmap_data(keys: preview.PreviewKeys) -> dict[str, str]:
    """The ConfigMap's data: the issuer, the authorize URL and the JWKS as JSON text (keys
    sorted, so that the same keys always give the same text)."""
    return {
        preview.KEYS_ISSUER: keys.issuer,
        preview.KEYS_AUTHORIZE_URL: keys.authorize_url,
        preview.KEYS_JWKS: json.dumps(keys.jwks, sort_keys=True, separators=(",", ":")),
    }


def configmap_object(namespace: str, data: dict[str, str]) -> dict[str, Any]:
    """The ConfigMap to server-side apply."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": preview.PREVIEW_KEYS_CONFIGMAP,
            "namespace": namespace,
            "labels": dict(AGENT_LABELS),
        },
        "data": data,
    }


class PreviewKeysWriter:
    def __init__(self, client: AsyncClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        #: What this process last wrote; None: nothing yet (the first batch writes).
        self.written: dict[str, str] | None = None
        self._failing = False

    async def write(self, keys: preview.PreviewKeys) -> bool:
        """Apply the ConfigMap if `keys` changed since the last write; whether it wrote."""
        data = configmap_data(keys)
        if data == self.written:
            return False
        try:
            await self.client.patch(
                ConfigMap,
                preview.PREVIEW_KEYS_CONFIGMAP,
                configmap_object(self.namespace, data),
                namespace=self.namespace,
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        except kube.CLIENT_ERRORS as error:
            # One error line when it starts failing, quieter ones until it works again.
            level = logging.DEBUG if self._failing else logging.ERROR
            log.log(
                level,
                "preview keys not written to ConfigMap %s/%s (tried again with the next batch): %s",
                self.namespace,
                preview.PREVIEW_KEYS_CONFIGMAP,
                kube.errors.wrap(error),
            )
            self._failing = True
            return False
        self._failing = False
        self.written = data
        log.info(
            "preview keys written to ConfigMap %s/%s (%d keys)",
            self.namespace,
            preview.PREVIEW_KEYS_CONFIGMAP,
            len(keys.jwks.get("keys", [])),
        )
        return True
