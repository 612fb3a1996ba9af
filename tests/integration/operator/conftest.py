"""Sandbox objects written straight to the cluster, for tests of the operator alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource, sandbox_gone
from tests.support.system import Process


@pytest.fixture
def sandboxes(kube_client: Client, operator: Process) -> Iterator[SandboxFactory]:
    """Creates Sandbox objects; deletes them (while the operator still runs) afterwards."""
    factory = SandboxFactory(kube_client)
    yield factory
    factory.delete_all(wait=operator.alive())


@dataclass
class SandboxFactory:
    client: Client
    names: list[str] = field(default_factory=list)

    def create(
        self, forks: list[dict[str, Any]], name: str | None = None, routing_key: str | None = None
    ) -> str:
        name = name or f"sbx-{uuid.uuid4().hex[:8]}"
        self.client.create(
            SandboxResource(
                metadata=ObjectMeta(name=name),
                spec={
                    "cluster": "local",
                    "routingKey": routing_key or uuid.uuid4().hex[:16],
                    "forks": forks,
                },
            )
        )
        self.names.append(name)
        return name

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client.get(SandboxResource, name).to_dict()
        return result

    def wait_for(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            body = self.get(name)
            return body if check(body) else None

        return eventually(matches, timeout=timeout, what=f"sandbox {name}: {what}")

    def wait_phase(self, name: str, phase: str, timeout: float = 30) -> dict[str, Any]:
        return self.wait_for(
            name,
            lambda b: (b.get("status") or {}).get("phase") == phase,
            f"phase {phase}",
            timeout,
        )

    def delete_all(self, wait: bool) -> None:
        for name in self.names:
            try:
                self.client.delete(SandboxResource, name)
            except ApiError as error:
                if error.status.code != 404:
                    raise
        if wait:
            for name in self.names:
                eventually(
                    lambda name=name: self.gone(name),
                    timeout=60,
                    what=f"sandbox {name} deleted",
                )

    def gone(self, name: str) -> bool:
        """The Sandbox is no longer there (its finalizers done)."""
        return sandbox_gone(self.client, name)
