"""`POST /api/v1/members` (and `member add`) mails the invitation through a real SMTP server;
when the server cannot be reached, the link comes back to pass on. On both stores."""

from __future__ import annotations

import httpx
import pytest
from tests.integration.controlplane.conftest import settings_for
from tests.support.controlplane import BASE_URL, Org, mail_settings

from sandboxmesh.client import endpoints
from sandboxmesh.controlplane import Settings
from sandboxmesh.controlplane.settings import MailSettings, SmtpSecurity
from sandboxmesh.dev.demo.mail_catcher import MailCatcher, links_in
from sandboxmesh.dev.processes import free_port


@pytest.fixture
def mail(request: pytest.FixtureRequest, mail_catcher: MailCatcher) -> MailSettings:
    """The test's SMTP server, unless the test names other mail settings."""
    chosen: MailSettings | None = getattr(request, "param", None)
    return chosen or mail_settings(mail_catcher)


@pytest.fixture
def settings(database_url: str, mail: MailSettings) -> Settings:
    return settings_for(database_url, mail=mail, public_url="https://cp.example.com")


async def test_an_added_member_gets_the_invitation_by_mail(
    acme: Org, mail_catcher: MailCatcher
) -> None:
    added = await acme.client.send(
        endpoints.add_member("dev@acme.example", role="viewer", teams=["default"])
    )
    invitation = added.invitation
    assert invitation.mailed is True
    assert invitation.link is None  # it went to the address, not to whoever added them
    mail = mail_catcher.wait_for("dev@acme.example")
    assert mail["Subject"] == "You are invited to acme on SandboxMesh"
    (link,) = [found for found in links_in(mail) if "/invitations/" in found]
    assert link.startswith(f"https://cp.example.com/portal/invitations/{invitation.prefix}_")
    assert "owner@acme.example invited dev@acme.example" in mail.get_content()
    assert "as viewer" in mail.get_content()


NOBODY_LISTENS = MailSettings(
    smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security=SmtpSecurity.NONE
)


@pytest.mark.parametrize("mail", [NOBODY_LISTENS], indirect=True)
async def test_when_mail_cannot_be_sent_the_link_comes_back_to_pass_on(
    acme: Org, transport: httpx.ASGITransport
) -> None:
    added = await acme.client.send(endpoints.add_member("dev@acme.example"))
    assert added.member.status == "pending"
    invitation = added.invitation
    assert invitation.mailed is False
    assert invitation.link is not None
    assert invitation.link.startswith("https://cp.example.com/portal/invitations/smi_")
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        metrics = await http.get("/metrics")
    assert 'sandboxmesh_mails_total{outcome="failed"} 1.0' in metrics.text
