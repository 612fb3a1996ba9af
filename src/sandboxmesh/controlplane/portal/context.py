"""Who is browsing, and the dependency aliases portal routes declare in their signature.

- `Visitor`: anyone; knows the session if the cookie opens one.
- `SignedIn`: a member signed in to an organisation (otherwise: redirect to the log-in page).

Unlike the API, portal routes do not run in one request-long transaction: they resolve the
session in a short one, then open `signed_in.org()` (or `runtime.unit_of_work()`) for what they
do, so a refused write rolls back on its own while the route renders its form with errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from sandboxmesh.controlplane.portal import csrf
from sandboxmesh.controlplane.portal.abilities import Abilities
from sandboxmesh.controlplane.portal.cookies import ANONYMOUS_CSRF, SESSION, CookiePolicy
from sandboxmesh.controlplane.repository import portal_sessions, records
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.web.dependencies import RuntimeDep

PREFIX = "/portal"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class LoginRequired(Exception):
    """The page needs a signed-in member; the handler redirects to the log-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A state-changing request without the right CSRF token (answered 403)."""


@dataclass(frozen=True)
class Visitor:
    request: Request
    runtime: Runtime
    cookies: CookiePolicy
    #: The session cookie's token, when it opens a live session.
    token: str | None
    session: records.PortalSession | None


@dataclass(frozen=True)
class Member:
    """A signed-in member of one organisation."""

    visitor: Visitor
    session: records.PortalSession
    token: str

    @property
    def principal(self) -> records.Principal:
        return self.session.principal

    @property
    def can(self) -> Abilities:
        return Abilities(self.principal.role, frozenset(self.session.team_names))

    @property
    def csrf_token(self) -> str:
        return csrf.for_session(self.token)

    @asynccontextmanager
    async def org(self) -> AsyncIterator[OrgScope]:
        """A transaction over the member's organisation; rolled back if the block raises."""
        async with self.visitor.runtime.unit_of_work() as tx:
            yield OrgScope(tx, self.principal, creates=self.visitor.runtime.creates)


async def _visitor(request: Request, runtime: RuntimeDep) -> Visitor:
    policy = CookiePolicy.of(runtime.settings)
    token = policy.read(request, SESSION)
    session = None
    if token is not None:
        async with runtime.unit_of_work() as tx:
            session = await portal_sessions.session_for(tx, token)
    return Visitor(
        request=request,
        runtime=runtime,
        cookies=policy,
        token=token if session is not None else None,
        session=session,
    )


VisitorDep = Annotated[Visitor, Depends(_visitor)]


async def _member(visitor: VisitorDep) -> Member:
    if visitor.session is None or visitor.token is None:
        request = visitor.request
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(wanted if request.method == "GET" else PREFIX + "/")
    return Member(visitor=visitor, session=visitor.session, token=visitor.token)


SignedIn = Annotated[Member, Depends(_member)]


async def verify_csrf(request: Request, visitor: VisitorDep) -> None:
    """Router-wide: every POST/PUT/PATCH/DELETE of the portal carries its CSRF token."""
    if request.method in _SAFE_METHODS:
        return
    presented: str | None = request.headers.get(csrf.HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(csrf.FIELD)
        presented = value if isinstance(value, str) else None
    if visitor.token is not None:
        expected: str | None = csrf.for_session(visitor.token)
    else:
        expected = visitor.cookies.read(request, ANONYMOUS_CSRF)
    if not csrf.matches(expected, presented):
        raise CsrfRefused()


def safe_next(path: str | None) -> str:
    """Where to go after signing in: only a path of the portal (never another site)."""
    if path and path.startswith(PREFIX + "/") and not path.startswith("//") and "\\" not in path:
        return path
    return PREFIX + "/sandboxes"
