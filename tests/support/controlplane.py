"""Helpers for the control-plane tests: a movable clock, organisations, manifests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sandboxmesh.client import AsyncControlPlaneClient, endpoints

BASE_URL = "http://controlplane.test"


class Clock:
    """Real time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@dataclass
class Org:
    """A bootstrapped organisation and its owner's client."""

    name: str
    token: str
    client: AsyncControlPlaneClient


def manifest(
    name: str, *, cluster: str = "staging", team: str | None = None, **spec: object
) -> dict[str, object]:
    body: dict[str, object] = {
        "cluster": cluster,
        "forks": [
            {
                "forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
                "customizations": {
                    "images": [{"container": "app", "image": "registry.example/checkout:pr"}]
                },
            }
        ],
        **spec,
    }
    if team is not None:
        body["team"] = team
    return {"name": name, "spec": body}


async def register_cluster(org: Org, name: str = "staging") -> str:
    """Register `name` for `org`; returns the agent's token."""
    registered = await org.client.send(endpoints.register_cluster(name))
    token: str = registered["token"]
    return token
