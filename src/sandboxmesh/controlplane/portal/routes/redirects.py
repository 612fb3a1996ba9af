"""After a form: redirect (303, so a reload does not post it again), with a notice to show."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from sandboxmesh.controlplane.portal import onetime
from sandboxmesh.controlplane.portal.context import PREFIX, Member
from sandboxmesh.controlplane.portal.rendering import leave_once


def to(path: str) -> RedirectResponse:
    return RedirectResponse(PREFIX + path, status_code=303)


def with_notice(member: Member, path: str, notice: str) -> Response:
    return leave_once(member, to(path), onetime.OneTime(notice=notice))


def with_secret(member: Member, path: str, notice: str, secret: dict[str, str]) -> Response:
    return leave_once(member, to(path), onetime.OneTime(notice=notice, secret=secret))
