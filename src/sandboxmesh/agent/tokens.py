"""The cluster token: read from a file or a Secret, and read again while the agent runs.

Kubernetes updates a mounted Secret's files in place, and an operator rotating the token
updates the Secret: either way the agent sees the new value without a restart. The token
itself is never logged; its first characters (the visible prefix) identify it in messages.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from sandboxmesh import kube
from sandboxmesh.agent.settings import TokenSettings


class TokenUnavailable(RuntimeError):
    """No token could be read; the message says where the agent looked."""


class TokenSource(Protocol):
    async def read(self, *, fresh: bool = False) -> str:
        """The current token; `fresh` skips any cache (after a 401)."""
        ...


def describe(token: str) -> str:
    """A token's printable identity: its prefix, never the secret part."""
    return token[:12] + "…"


@dataclass
class FileToken:
    path: Path

    async def read(self, *, fresh: bool = False) -> str:
        try:
            token = self.path.read_text().strip()
        except OSError as error:
            raise TokenUnavailable(
                f"cannot read the cluster token file {self.path}: {error}"
            ) from error
        if not token:
            raise TokenUnavailable(f"the cluster token file {self.path} is empty")
        return token


@dataclass
class SecretToken:
    client: AsyncClient
    namespace: str
    name: str
    key: str
    refresh_seconds: float
    _cached: str | None = None
    _read_at: float = 0.0

    async def read(self, *, fresh: bool = False) -> str:
        if not fresh and self._cached and time.monotonic() - self._read_at < self.refresh_seconds:
            return self._cached
        where = f"Secret {self.namespace}/{self.name} key {self.key!r}"
        try:
            secret = await self.client.get(Secret, self.name, namespace=self.namespace)
        except kube.CLIENT_ERRORS as error:
            refused = kube.errors.refusal(error)
            if refused is None:
                raise  # no answer: the caller's retry may cure it
            raise TokenUnavailable(f"cannot read {where}: {refused.message}") from error
        encoded = (secret.data or {}).get(self.key)
        if not encoded:
            raise TokenUnavailable(f"{where} is missing or empty")
        self._cached = base64.b64decode(encoded).decode().strip()
        self._read_at = time.monotonic()
        return self._cached


def token_source(settings: TokenSettings, client: AsyncClient) -> TokenSource:
    if settings.file is not None:
        return FileToken(settings.file)
    if settings.secret_namespace and settings.secret_name:
        return SecretToken(
            client,
            settings.secret_namespace,
            settings.secret_name,
            settings.secret_key,
            settings.refresh_seconds,
        )
    raise TokenUnavailable("no cluster token configured: give --token-file or --token-secret")
