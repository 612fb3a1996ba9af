"""Signing up, in and out; confirming an address; accepting an invitation; switching
organisation. The rules are in usecases.accounts: these routes turn forms into its calls and
its answers (and refusals) into pages."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, BaseModel
from starlette.responses import Response

from sandboxmesh.controlplane import errors, passwords
from sandboxmesh.controlplane.portal import forms, onetime
from sandboxmesh.controlplane.portal.context import (
    PREFIX,
    SignedIn,
    Visitor,
    VisitorDep,
    safe_next,
)
from sandboxmesh.controlplane.portal.cookies import ONCE, SESSION
from sandboxmesh.controlplane.portal.rendering import anonymous_page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.repository import portal_sessions, users
from sandboxmesh.controlplane.repository.invitations import OpenInvitation
from sandboxmesh.controlplane.usecases import accounts
from sandboxmesh.spec import names

router = APIRouter()

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LinkToken = Annotated[str, Path(min_length=1, max_length=200)]
# Where to return after signing in: a portal path, up to the authorize page of a preview with
# its (percent-encoded) preview URL.
_MAX_NEXT = 8192


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.fullmatch(value) or len(value) > 254:
        raise ValueError("Enter an email address such as ada@example.com")
    return value


def _new_password(value: str) -> str:
    problem = passwords.problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _organization(value: str) -> str | None:
    if not value:
        return None
    if len(value) > 63 or not re.fullmatch(names.DNS_LABEL_PATTERN, value):
        raise ValueError(forms.DNS_LABEL_HINT)
    return value


Email = Annotated[str, AfterValidator(_email)]


class LogIn(BaseModel):
    email: Email
    password: str


class SignUp(BaseModel):
    email: Email
    #: Empty: only an account (to join the organisations that invite it).
    organization: Annotated[str, AfterValidator(_organization)] = ""


class AskForLink(BaseModel):
    email: Email


class ChoosePassword(BaseModel):
    password: Annotated[str, AfterValidator(_new_password)]


def _client(request: Request) -> str:
    # Behind a reverse proxy this is the proxy, unless uvicorn believes its X-Forwarded-For
    # (`sandboxmesh server --forwarded-allow-ips`, docs/security.md).
    return request.client.host if request.client else "unknown"


def _signed_in(
    visitor: Visitor, response: Response, token: str, *, notice: str | None = None
) -> Response:
    ttl = visitor.runtime.settings.portal.session_ttl_seconds
    visitor.cookies.write(response, SESSION, token, max_age=ttl)
    if notice:
        sealed = onetime.seal(token, onetime.OneTime(notice=notice))
        visitor.cookies.write(
            response, ONCE, sealed, max_age=onetime.MAX_AGE_SECONDS, same_site="strict"
        )
    return response


def _without_secrets(data: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in data.items() if key != "password"}


def _link_mailed(visitor: Visitor, mailed: accounts.LinkMailed, *, purpose: str) -> Response:
    hours = visitor.runtime.settings.portal.verification_ttl_hours
    return anonymous_page(
        visitor, "check_inbox.html", email=mailed.email, purpose=purpose, hours=hours
    )


@router.get("/")
async def home(visitor: VisitorDep) -> Response:
    return redirects.to("/sandboxes" if visitor.session else "/login")


@router.get("/login")
async def login_page(
    visitor: VisitorDep, next: Annotated[str | None, Query(max_length=_MAX_NEXT)] = None
) -> Response:
    if visitor.session is not None:
        return redirects.to(safe_next(next).removeprefix(PREFIX))
    return anonymous_page(
        visitor, "login.html", values={}, errors={}, next=safe_next(next), expired=False
    )


@router.post("/login")
async def login(request: Request, visitor: VisitorDep) -> Response:
    data = await forms.fields(request)
    target = safe_next(data.get("next"))
    form, problems = forms.validate(LogIn, data)

    def again(status: int, problems: forms.Errors) -> Response:
        values = {"email": form.email} if form else _without_secrets(data)
        return anonymous_page(
            visitor, "login.html", status=status, values=values, errors=problems, next=target
        )

    if form is None:
        return again(422, problems)
    try:
        signed_in = await accounts.log_in(
            visitor.runtime, email=form.email, password=form.password, client=_client(request)
        )
    except accounts.WrongPassword:
        return again(401, {"password": "That email and password do not match an account."})
    except accounts.AddressUnproven:
        return again(
            403,
            {
                "email": f"Confirm your address first: we sent a link to {form.email}. "
                "Open it to choose your password."
            },
        )
    except accounts.NoOrganization:
        return again(403, {"email": "This account is not a member of any organisation."})
    return _signed_in(visitor, redirects.to(target.removeprefix(PREFIX)), signed_in.token)


@router.get("/signup")
async def signup_page(visitor: VisitorDep) -> Response:
    if not visitor.runtime.settings.portal.signup_enabled:
        raise errors.NotFound("page", "signup")
    return anonymous_page(
        visitor, "signup.html", values={}, errors={}, mail=visitor.runtime.mailer is not None
    )


@router.post("/signup")
async def signup(request: Request, visitor: VisitorDep) -> Response:
    runtime = visitor.runtime
    if not runtime.settings.portal.signup_enabled:
        raise errors.NotFound("page", "signup")
    data = await forms.fields(request)
    form, problems = forms.validate(SignUp, data)

    def again(status: int, problems: forms.Errors) -> Response:
        return anonymous_page(
            visitor,
            "signup.html",
            status=status,
            values=_without_secrets(data),
            errors=problems,
            mail=runtime.mailer is not None,
        )

    if form is None:
        return again(422, problems)
    try:
        mailed = await accounts.mail_link(
            runtime,
            email=form.email,
            client=_client(request),
            organization=form.organization or None,
        )
    except errors.Conflict:
        return again(409, {"organization": "This name is taken: choose another."})
    return _link_mailed(visitor, mailed, purpose="signup")


@router.get("/reset")
async def reset_page(visitor: VisitorDep) -> Response:
    return anonymous_page(visitor, "reset.html", values={}, errors={})


@router.post("/reset")
async def reset(request: Request, visitor: VisitorDep) -> Response:
    """A link to choose a (new) password: the way in for a forgotten password, and for a
    member who never had one (added by an admin, or bootstrapped)."""
    data = await forms.fields(request)
    form, problems = forms.validate(AskForLink, data)
    if form is None:
        return anonymous_page(
            visitor, "reset.html", status=422, values=_without_secrets(data), errors=problems
        )
    mailed = await accounts.mail_link(visitor.runtime, email=form.email, client=_client(request))
    return _link_mailed(visitor, mailed, purpose="reset")


def _dead_link(visitor: Visitor) -> Response:
    return anonymous_page(visitor, "verify.html", status=404, link=None, token="", errors={})


@router.get("/verify/{token}")
async def verify_page(token: LinkToken, visitor: VisitorDep) -> Response:
    # Opening the page changes nothing (mail scanners open links too): the form does.
    link = await accounts.open_link(visitor.runtime, token)
    if link is None:
        return _dead_link(visitor)
    return anonymous_page(visitor, "verify.html", link=link, token=token, errors={})


@router.post("/verify/{token}")
async def verify(token: LinkToken, request: Request, visitor: VisitorDep) -> Response:
    data = await forms.fields(request)
    form, problems = forms.validate(ChoosePassword, data)
    if form is None:
        link = await accounts.open_link(visitor.runtime, token)
        if link is None:
            return _dead_link(visitor)
        return anonymous_page(
            visitor, "verify.html", status=422, link=link, token=token, errors=problems
        )
    confirmed = await accounts.confirm(visitor.runtime, token, password=form.password)
    if confirmed is None:
        return _dead_link(visitor)
    notice = " ".join(("Your address is confirmed.", *confirmed.notices))
    if confirmed.session is None:
        return anonymous_page(
            visitor, "confirmed.html", email=confirmed.email, notices=confirmed.notices
        )
    return _signed_in(visitor, redirects.to("/sandboxes"), confirmed.session.token, notice=notice)


@router.post("/logout")
async def logout(visitor: VisitorDep) -> Response:
    if visitor.token is not None:
        async with visitor.runtime.unit_of_work() as tx:
            await portal_sessions.close(tx, visitor.token)
    response = redirects.to("/login")
    visitor.cookies.clear(response, SESSION)
    return response


@router.post("/organization")
async def switch_organization(request: Request, member: SignedIn) -> Response:
    data = await forms.fields(request)
    async with member.visitor.runtime.unit_of_work() as tx:
        orgs = dict(
            (name, org_id)
            for org_id, name in await users.organizations_of(tx, member.principal.email)
        )
        org_id = orgs.get(data.get("organization", ""))
        if org_id is None or not await portal_sessions.switch_organization(
            tx, member.session, org_id
        ):
            raise errors.NotFound("organization", data.get("organization", ""))
    return redirects.to("/sandboxes")


def _invitation_page(
    visitor: Visitor,
    token: str,
    found: OpenInvitation | None,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: forms.Errors | None = None,
) -> Response:
    return anonymous_page(
        visitor,
        "invitation.html",
        status=404 if found is None else status,
        found=found,
        token=token,
        signed_in=visitor.session.principal.email if visitor.session else None,
        values=values or {},
        errors=problems or {},
    )


@router.get("/invitations/{token}")
async def invitation_page(token: LinkToken, visitor: VisitorDep) -> Response:
    found = await accounts.find_invitation(visitor.runtime, token)
    return _invitation_page(visitor, token, found)


@router.post("/invitations/{token}")
async def accept_invitation(token: LinkToken, request: Request, visitor: VisitorDep) -> Response:
    """Signed in: join as the account's address. Otherwise: mail the address given (the
    invited one, for an invitation sent to an address) a link that proves it and joins."""
    runtime = visitor.runtime
    found = await accounts.find_invitation(runtime, token)
    if found is None:
        return _invitation_page(visitor, token, None)
    data = await forms.fields(request)
    try:
        if visitor.session is not None:
            await accounts.accept_signed_in(runtime, token, visitor.session)
            return redirects.to("/sandboxes")
        form, problems = forms.validate(AskForLink, data)
        if form is None:
            return _invitation_page(
                visitor, token, found, status=422, values=data, problems=problems
            )
        mailed = await accounts.accept_by_mail(
            runtime, token, email=form.email, client=_client(request)
        )
    except errors.NotFound:
        return _invitation_page(visitor, token, None)
    except (errors.Conflict, errors.Forbidden) as refused:
        status = 403 if isinstance(refused, errors.Forbidden) else 409
        return _invitation_page(
            visitor,
            token,
            found,
            status=status,
            values=_without_secrets(data),
            problems=forms.from_api_error(refused, field="email"),
        )
    return _link_mailed(visitor, mailed, purpose="join")
