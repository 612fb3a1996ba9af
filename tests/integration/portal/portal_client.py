"""Driving the portal's forms over HTTP like a browser would: GET the page, take its CSRF
token, POST the form (redirects are not followed, so tests see them); and reading the mails
the portal sends from the test's SMTP server, as the person would, to open their links."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from sandboxmesh.dev.demo.mail_catcher import MailCatcher, links_in

PREFIX = "/portal"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def field_error(page: str, field: str) -> str | None:
    """The error shown next to form field `field`, or None."""
    found = re.search(rf'id="f-{field}-error">(.*?)</(?:p|div)>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip() if found else None


def text(page: str) -> str:
    """The page's visible text, tags dropped and blanks collapsed."""
    without = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", without)).split())


def path_of(link: str) -> str:
    """The path of an absolute link (the mails' links name the configured public URL)."""
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


@dataclass
class Portal:
    client: httpx.AsyncClient
    _new_client: Callable[[], httpx.AsyncClient]
    mail: MailCatcher

    @property
    def has_session(self) -> bool:
        """Whether this browser holds a session cookie (`__Host-` prefixed outside
        development)."""
        return any(name.endswith("sandboxmesh_session") for name in self.client.cookies)

    def another(self) -> Portal:
        """A second browser (its own cookies), reading the same mail server."""
        return Portal(self._new_client(), self._new_client, self.mail)

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.get(PREFIX + path, **kwargs)  # type: ignore[arg-type]

    async def submit(
        self, page_path: str, action: str, data: dict[str, str], *, token: bool = True
    ) -> httpx.Response:
        """Open `page_path`, then post `data` to `action` with the page's CSRF token."""
        page = await self.get(page_path)
        fields = {**data, "csrf_token": csrf_of(page.text)} if token else data
        return await self.client.post(PREFIX + action, data=fields)

    async def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, (response.status_code, text(response.text)[:500])
        return await self.client.get(response.headers["location"])

    async def asking_for_link(
        self, email: str, ask: Callable[[], object]
    ) -> tuple[httpx.Response, str | None]:
        """Run `ask` (a form that mails a link); its answer, and the link of the mail it sent
        to `email` (None when none was sent)."""
        before = len(self.mail.to(email))
        response = await ask()  # type: ignore[misc]
        assert isinstance(response, httpx.Response)
        if response.status_code != 200 or "Check your inbox" not in response.text:
            return response, None
        message = self.mail.wait_for(email, count=before + 1)
        return response, links_in(message)[0]

    async def confirm(self, link: str, password: str) -> httpx.Response:
        """Open a mailed link and choose `password` there."""
        page = await self.client.get(path_of(link))
        if page.status_code != 200:
            return page
        return await self.client.post(
            path_of(link), data={"password": password, "csrf_token": csrf_of(page.text)}
        )

    async def sign_up(self, email: str, password: str, organization: str) -> httpx.Response:
        """Sign up as a person would: the form, the mail, its link, the password."""
        answer, link = await self.asking_for_link(
            email,
            lambda: self.submit(
                "/signup", "/signup", {"email": email, "organization": organization}
            ),
        )
        assert link is not None, (answer.status_code, text(answer.text)[:500])
        response = await self.confirm(link, password)
        assert response.status_code == 303, text(response.text)[:500]
        return response

    async def log_in(self, email: str, password: str) -> httpx.Response:
        return await self.submit("/login", "/login", {"email": email, "password": password})


def revealed(page: str, element_id: str) -> str | None:
    """The secret a page shows once in <pre id=element_id>, or None."""
    found = re.search(rf'<pre id="{element_id}" class="code">(.*?)</pre>', page, re.S)
    return html.unescape(found.group(1)).strip() if found else None


async def invite(admin: Portal, role: str, team: str = "") -> str:
    """An invitation link, as an admin gets it on the Teams page."""
    created = await admin.submit("/teams", "/invitations", {"role": role, "team": team})
    page = await admin.follow(created)
    link = revealed(page.text, "invitation-link")
    assert link, text(page.text)[:1000]
    return link


async def ask_to_join(browser: Portal, link: str, email: str) -> tuple[httpx.Response, str | None]:
    """A newcomer's way in: the invitation's "email me a link" form; its answer and the
    link mailed to `email` (None when none was)."""

    async def ask() -> httpx.Response:
        page = await browser.client.get(path_of(link))
        if page.status_code != 200:
            return page
        return await browser.client.post(
            path_of(link), data={"email": email, "csrf_token": csrf_of(page.text)}
        )

    return await browser.asking_for_link(email, ask)


async def join(browser: Portal, link: str, email: str, password: str) -> httpx.Response:
    """Join by invitation as a newcomer: ask for the mail, open its link, choose `password`.
    A refusal before any mail is returned as it came."""
    answer, mailed = await ask_to_join(browser, link, email)
    if mailed is None:
        return answer
    return await browser.confirm(mailed, password)


async def accept(member: Portal, link: str) -> httpx.Response:
    """A signed-in account accepts an invitation with the page's button."""
    page = await member.client.get(path_of(link))
    if page.status_code != 200:
        return page
    return await member.client.post(path_of(link), data={"csrf_token": csrf_of(page.text)})


async def register_cluster(admin: Portal, name: str = "staging") -> str:
    """Register a cluster through its form; returns the agent token shown once."""
    response = await admin.submit("/clusters", "/clusters", {"name": name})
    token = revealed((await admin.follow(response)).text, "cluster-token")
    assert token
    return token


SANDBOX_FORM = {
    "name": "pr-1",
    "cluster": "staging",
    "team": "default",
    "description": "PR #1",
    "namespace": "shop",
    "deployment": "checkout",
    "container": "app",
    "image": "registry.example/checkout:pr-1",
    "env": "",
    "ttl": "",
}


async def create_sandbox(member: Portal, **fields: str) -> httpx.Response:
    return await member.submit("/new/sandbox", "/new/sandbox", {**SANDBOX_FORM, **fields})
