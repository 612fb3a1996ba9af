"""Signing up, in and out; accepting an invitation; switching organisation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, BaseModel
from starlette.responses import Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.portal import forms, passwords
from sandboxmesh.controlplane.portal.context import PREFIX, SignedIn, Visitor, VisitorDep, safe_next
from sandboxmesh.controlplane.portal.cookies import SESSION
from sandboxmesh.controlplane.portal.rendering import anonymous_page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.repository import invitations, portal_sessions, users
from sandboxmesh.spec import names

router = APIRouter()

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
InvitationToken = Annotated[str, Path(min_length=1, max_length=200)]


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


def _organization(value: str) -> str:
    if not value:
        raise ValueError("This is required")
    if len(value) > 63 or not re.fullmatch(names.DNS_LABEL_PATTERN, value):
        raise ValueError(forms.DNS_LABEL_HINT)
    return value


Email = Annotated[str, AfterValidator(_email)]


class LogIn(BaseModel):
    email: Email
    password: str


class SignUp(BaseModel):
    email: Email
    password: Annotated[str, AfterValidator(_new_password)]
    organization: Annotated[str, AfterValidator(_organization)]


class Join(BaseModel):
    email: Email
    password: str


def _signed_in(visitor: Visitor, response: Response, token: str) -> Response:
    ttl = visitor.runtime.settings.portal.session_ttl_seconds
    visitor.cookies.write(response, SESSION, token, max_age=ttl)
    return response


@router.get("/")
async def home(visitor: VisitorDep) -> Response:
    return redirects.to("/sandboxes" if visitor.session else "/login")


@router.get("/login")
async def login_page(
    visitor: VisitorDep, next: Annotated[str | None, Query(max_length=2000)] = None
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
    if form is None:
        return anonymous_page(
            visitor, "login.html", status=422, values=data, errors=problems, next=target
        )
    runtime = visitor.runtime
    async with runtime.unit_of_work() as tx:
        user = await users.find(tx, form.email)
    # Same answer and (about) the same time for an unknown email and a wrong password.
    if not await passwords.verify(user.password_hash if user else None, form.password):
        return anonymous_page(
            visitor,
            "login.html",
            status=401,
            values={"email": form.email},
            errors={"password": "That email and password do not match an account."},
            next=target,
        )
    assert user is not None
    async with runtime.unit_of_work() as tx:
        orgs = await users.organizations_of(tx, user.email)
        if not orgs:
            token = None
        else:
            ttl = timedelta(seconds=runtime.settings.portal.session_ttl_seconds)
            token = await portal_sessions.open_session(
                tx, user_id=user.id, org_id=orgs[0][0], ttl=ttl
            )
    if token is None:
        return anonymous_page(
            visitor,
            "login.html",
            status=403,
            values={"email": form.email},
            errors={"email": "This account is no longer a member of any organisation."},
            next=target,
        )
    return _signed_in(visitor, redirects.to(target.removeprefix(PREFIX)), token)


@router.get("/signup")
async def signup_page(visitor: VisitorDep) -> Response:
    if not visitor.runtime.settings.portal.signup_enabled:
        raise errors.NotFound("page", "signup")
    return anonymous_page(visitor, "signup.html", values={}, errors={})


@router.post("/signup")
async def signup(request: Request, visitor: VisitorDep) -> Response:
    runtime = visitor.runtime
    if not runtime.settings.portal.signup_enabled:
        raise errors.NotFound("page", "signup")
    data = await forms.fields(request)
    form, problems = forms.validate(SignUp, data)
    if form is None:
        values = {k: v for k, v in data.items() if k != "password"}
        return anonymous_page(visitor, "signup.html", status=422, values=values, errors=problems)
    password_hash = await passwords.hash_password(form.password)
    try:
        async with runtime.unit_of_work() as tx:
            user, organization = await users.sign_up(
                tx,
                email=form.email,
                password_hash=password_hash,
                organization=form.organization,
                plan=Plan.FREE,
            )
            ttl = timedelta(seconds=runtime.settings.portal.session_ttl_seconds)
            token = await portal_sessions.open_session(
                tx, user_id=user.id, org_id=organization.id, ttl=ttl
            )
    except errors.Conflict as conflict:
        field = "email" if "account" in conflict.message else "organization"
        message = (
            "An account with this email exists: log in instead."
            if field == "email"
            else "This name is taken: choose another."
        )
        values = {k: v for k, v in data.items() if k != "password"}
        return anonymous_page(
            visitor, "signup.html", status=409, values=values, errors={field: message}
        )
    return _signed_in(visitor, redirects.to("/sandboxes"), token)


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


@router.get("/invitations/{token}")
async def invitation_page(token: InvitationToken, visitor: VisitorDep) -> Response:
    async with visitor.runtime.unit_of_work() as tx:
        found = await invitations.find_open(tx, token)
    if found is None:
        return anonymous_page(
            visitor, "invitation.html", status=404, found=None, token=token, values={}, errors={}
        )
    return anonymous_page(
        visitor, "invitation.html", found=found, token=token, values={}, errors={}
    )


@router.post("/invitations/{token}")
async def accept_invitation(
    token: InvitationToken, request: Request, visitor: VisitorDep
) -> Response:
    runtime = visitor.runtime
    data = await forms.fields(request)
    async with runtime.unit_of_work() as tx:
        found = await invitations.find_open(tx, token)
    if found is None:
        return anonymous_page(
            visitor, "invitation.html", status=404, found=None, token=token, values={}, errors={}
        )

    def again(status: int, problems: forms.Errors) -> Response:
        values = {"email": data.get("email", "")}
        return anonymous_page(
            visitor,
            "invitation.html",
            status=status,
            found=found,
            token=token,
            values=values,
            errors=problems,
        )

    form, problems = forms.validate(Join, data)
    if form is None:
        return again(422, problems)
    async with runtime.unit_of_work() as tx:
        user = await users.find(tx, form.email)
    if user is not None:
        if not await passwords.verify(user.password_hash, form.password):
            return again(401, {"password": "That is not the password of this account."})
        password_hash = None
    else:
        problem = passwords.problem(form.password)
        if problem:
            return again(422, {"password": problem})
        password_hash = await passwords.hash_password(form.password)
    ttl = timedelta(seconds=runtime.settings.portal.session_ttl_seconds)
    try:
        async with runtime.unit_of_work() as tx:
            if password_hash is not None:
                user = await users.create(tx, email=form.email, password_hash=password_hash)
            assert user is not None
            joined, _ = await invitations.accept(tx, token, email=form.email)
            session_token = await portal_sessions.open_session(
                tx, user_id=user.id, org_id=joined.org_id, ttl=ttl
            )
    except errors.NotFound:
        return anonymous_page(
            visitor, "invitation.html", status=404, found=None, token=token, values={}, errors={}
        )
    except errors.Conflict as conflict:
        if "already exists" in conflict.message and "member" in conflict.message:
            return again(409, {"email": f"{form.email} is already a member of {found.org_name}."})
        return again(409, forms.from_api_error(conflict, field="email"))
    return _signed_in(visitor, redirects.to("/sandboxes"), session_token)
