"""Errors under /portal are pages for people; everywhere else the API's JSON stays as it is.

The app's JSON handlers (api.error_handlers) are wrapped, not replaced: a request outside the
portal still gets `{code, message, details}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.portal.context import PREFIX, CsrfRefused, LoginRequired
from sandboxmesh.controlplane.portal.rendering import environment

log = logging.getLogger(__name__)
Handler = Callable[[Request, Exception], Awaitable[Response]]

_TITLES = {
    400: "That request was not understood",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    408: "Too slow",
    409: "That could not be done",
    413: "Too large",
    422: "That request was not understood",
    429: "Too many attempts",
    503: "Not available right now",
}


def _in_portal(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def error_page(status: int, message: str, *, title: str | None = None) -> HTMLResponse:
    body = (
        environment()
        .get_template("error.html")
        .render(
            member=None,
            navigation=[],
            section=None,
            notice=None,
            csrf_token="",
            status=status,
            title=title or _TITLES.get(status, "Something went wrong"),
            message=message,
        )
    )
    return HTMLResponse(body, status_code=status)


def _wrap(app: FastAPI, kind: type[Exception], portal: Handler) -> None:
    original = app.exception_handlers.get(kind)

    async def handler(request: Request, error: Exception) -> Response:
        if _in_portal(request) or original is None:
            return await portal(request, error)
        answer = original(request, error)
        return answer if isinstance(answer, Response) else await answer

    app.add_exception_handler(kind, handler)


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, errors.ApiError)
    page = error_page(error.status, error.message)
    if isinstance(error, errors.TooManyRequests):
        page.headers["Retry-After"] = str(error.retry_after)
    return page


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else ""
    if error.status_code == 404:
        detail = "There is no page at this address."
    page = error_page(error.status_code, detail)
    page.headers.update(error.headers or {})  # Connection: close after a 408
    return page


async def _integrity_error(request: Request, error: Exception) -> Response:
    return error_page(409, "Someone changed the same thing at the same moment. Try again.")


async def _validation_error(request: Request, error: Exception) -> Response:
    return error_page(422, "Some part of the address is not valid. Go back and try again.")


async def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    target = f"{PREFIX}/login?next={quote(error.next_path, safe='/')}"
    if request.headers.get("hx-request"):
        # htmx would swap the log-in page into a fragment: send the whole page there instead.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _csrf_refused(request: Request, error: Exception) -> Response:
    return error_page(
        403,
        "This form has expired or did not come from this site. Reload the page and send it again.",
        title="Form expired",
    )


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_page(500, "Something went wrong on our side. Try again in a moment.")


def install(app: FastAPI) -> None:
    _wrap(app, errors.ApiError, _api_error)
    _wrap(app, HTTPException, _http_error)
    _wrap(app, RequestValidationError, _validation_error)
    _wrap(app, IntegrityError, _integrity_error)
    _wrap(app, Exception, _unexpected)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
