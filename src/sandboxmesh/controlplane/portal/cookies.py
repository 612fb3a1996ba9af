"""The portal's cookies, and how each is set: HttpOnly, SameSite, Secure outside development.

With Secure on, names take the `__Host-` prefix: the browser then accepts them only from this
exact host over HTTPS with `Path=/`, so a sibling subdomain cannot plant one (which is what
keeps the anonymous forms' double-submit CSRF cookie trustworthy).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from sandboxmesh.controlplane.settings import Environment, Settings

SESSION = "sandboxmesh_session"
#: The double-submit CSRF token of forms shown before sign-in (log-in, sign-up, invitations).
ANONYMOUS_CSRF = "sandboxmesh_csrf"
#: A notice or a secret to show once, on the next page (see `onetime`).
ONCE = "sandboxmesh_once"


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool

    @classmethod
    def of(cls, settings: Settings) -> CookiePolicy:
        secure = settings.portal.secure_cookies
        if secure is None:
            secure = settings.environment is not Environment.DEVELOPMENT
        return cls(secure=secure)

    def name(self, base: str) -> str:
        return f"__Host-{base}" if self.secure else base

    def read(self, request: Request, base: str) -> str | None:
        return request.cookies.get(self.name(base)) or None

    def write(
        self,
        response: Response,
        base: str,
        value: str,
        *,
        max_age: int | None = None,
        same_site: str = "lax",
    ) -> None:
        response.set_cookie(
            self.name(base),
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite=same_site,  # type: ignore[arg-type]
        )

    def clear(self, response: Response, base: str) -> None:
        response.delete_cookie(
            self.name(base), path="/", secure=self.secure, httponly=True, samesite="lax"
        )
