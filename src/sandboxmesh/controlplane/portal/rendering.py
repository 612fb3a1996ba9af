"""Rendering pages: one Jinja2 environment (autoescaped), the layout's context, one-time notices.

`page(...)` gives every template the same things: who is signed in and what they may do, the
CSRF token for forms, the navigation, and a notice left by the previous request.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.responses import HTMLResponse, Response

from sandboxmesh import __version__
from sandboxmesh.controlplane.portal import csrf, onetime
from sandboxmesh.controlplane.portal.context import PREFIX, Member, Visitor
from sandboxmesh.controlplane.portal.cookies import ANONYMOUS_CSRF, ONCE

NAVIGATION = [
    ("sandboxes", "Sandboxes", False),
    ("routegroups", "Route groups", False),
    ("clusters", "Clusters", False),
    ("teams", "Teams & members", False),
    ("quotas", "Quotas", False),
    ("usage", "Usage & billing", False),
    ("tokens", "API tokens", False),
    ("audit", "Audit log", True),
]


def _when(moment: datetime | None) -> str:
    """`moment` in UTC to the minute; as it was written when it has no time in UTC (a time
    stored before reports were checked, `0001-01-01T00:00:00+23:59`): a page still shows."""
    if moment is None:
        return "—"
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError):
        return moment.isoformat()


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    try:
        seconds = int((now - moment).total_seconds())
    except (OverflowError, TypeError):  # out of range, or without a UTC offset
        return _when(moment)
    if seconds < 5:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _hours(value: float) -> str:
    return f"{value:,.2f}"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sandboxmesh.controlplane.portal", "templates"),
        autoescape=jinja2.select_autoescape(["html", "svg"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["hours"] = _hours
    env.globals["ago"] = _ago
    env.globals["prefix"] = PREFIX
    env.globals["version"] = __version__
    return env


def page(
    member: Member,
    template: str,
    *,
    section: str | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page for a signed-in member, with the notice or secret left by the previous request."""
    visitor = member.visitor
    once = _take_once(visitor, member.token)
    body = _render(
        member,
        template,
        navigation=[item for item in NAVIGATION if not item[2] or member.can.manage],
        section=section,
        notice=once.notice if once else None,
        revealed=once.secret if once else None,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    if visitor.cookies.read(visitor.request, ONCE) is not None:
        visitor.cookies.clear(response, ONCE)
    return response


def fragment(member: Member, template: str, **context: Any) -> HTMLResponse:
    """A piece of a page for htmx to swap in (no layout, no notice consumed)."""
    return HTMLResponse(_render(member, template, **context))


def _render(member: Member, template: str, **context: Any) -> str:
    """`template` with what every signed-in template may use: the member, their abilities,
    the CSRF token and the clock's now."""
    return (
        environment()
        .get_template(template)
        .render(
            member=member,
            principal=member.principal,
            can=member.can,
            csrf_token=member.csrf_token,
            now=member.visitor.runtime.clock(),
            **context,
        )
    )


def anonymous_page(
    visitor: Visitor, template: str, *, status: int = 200, **context: Any
) -> Response:
    """A page shown before sign-in; its forms carry the double-submit CSRF token (or, when
    someone signed in views it, their session's token, which the check then expects)."""
    if visitor.token is not None:
        token = csrf.for_session(visitor.token)
    else:
        token = visitor.cookies.read(visitor.request, ANONYMOUS_CSRF) or csrf.new_anonymous()
    body = (
        environment()
        .get_template(template)
        .render(member=None, csrf_token=token, navigation=[], section=None, notice=None, **context)
    )
    response = HTMLResponse(body, status_code=status)
    if visitor.token is None:
        visitor.cookies.write(response, ANONYMOUS_CSRF, token, same_site="strict")
    return response


def leave_once(member: Member, response: Response, once: onetime.OneTime) -> Response:
    """Leave a notice or a secret for the next page (`response` is usually a redirect)."""
    member.visitor.cookies.write(
        response,
        ONCE,
        onetime.seal(member.token, once),
        max_age=onetime.MAX_AGE_SECONDS,
        same_site="strict",
    )
    return response


def _take_once(visitor: Visitor, token: str) -> onetime.OneTime | None:
    sealed = visitor.cookies.read(visitor.request, ONCE)
    return onetime.unseal(token, sealed) if sealed else None
