"""Helpers for the control-plane tests: a movable clock, organisations, manifests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from sandboxmesh.client import AsyncControlPlaneClient, endpoints
from sandboxmesh.controlplane.repository.members import Members
from sandboxmesh.controlplane.repository.tokens import ApiTokens
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.settings import MailSettings, SmtpSecurity
from sandboxmesh.controlplane.store.tables import organizations
from sandboxmesh.dev.demo.mail_catcher import MailCatcher

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
    return (await org.client.send(endpoints.register_cluster(name))).token


def mail_settings(catcher: MailCatcher) -> MailSettings:
    """The control plane's mail, to `catcher` (plain SMTP on loopback)."""
    return MailSettings(
        smtp_host=catcher.host, smtp_port=catcher.port, smtp_security=SmtpSecurity.NONE
    )


async def accepted_member(
    org: Org, runtime: Runtime, email: str, *, role: str = "member", teams: list[str] | None = None
) -> AsyncControlPlaneClient:
    """A member the owner added through the API, who then accepted, with an API token of
    their own (what the person would mint in the portal). The acceptance itself, proving the
    address by mail, is the portal suite's to test; here it is written to the store."""
    added = await org.client.send(endpoints.add_member(email, role=role, teams=teams))
    assert added.member.status == "pending"
    async with runtime.unit_of_work() as tx:
        org_id = await tx.conn.scalar(
            sa.select(organizations.c.id).where(organizations.c.name == org.name)
        )
        assert org_id is not None
        member = await Members(tx, org_id, f"member:{email}").accept(email)
        _, issued = await ApiTokens(tx, org_id, f"member:{email}").create(
            member_id=member.id, name="tests", ttl=timedelta(days=1)
        )
    return org.client.with_token(issued.plaintext)
