"""Who may read `/metrics`: anyone, the holders of a bearer token, or nobody.

The settings (`MetricsSettings`) choose; `MetricsGate.from_settings` reads the token file
once, when the app is built, so a scrape costs no file read and a file that cannot serve
(empty) stops the server at start rather than at the first scrape.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.settings import Environment, MetricsSettings


class MetricsAccess(StrEnum):
    PUBLIC = "public"
    BEARER = "bearer"
    CLOSED = "closed"


class UnusableTokenFile(ValueError):
    """The metrics token file cannot be read, or holds no token."""


@dataclass(frozen=True)
class MetricsGate:
    access: MetricsAccess
    token: str | None = None

    @classmethod
    def from_settings(cls, settings: MetricsSettings, environment: Environment) -> MetricsGate:
        if settings.token_file is not None:
            try:
                token = settings.token_file.read_text().strip()
            except OSError as error:
                raise UnusableTokenFile(
                    f"metrics token file {settings.token_file}: {error.strerror or error}"
                ) from error
            if not token:
                raise UnusableTokenFile(f"metrics token file {settings.token_file} is empty")
            return cls(MetricsAccess.BEARER, token)
        public = settings.public
        if public is None:
            public = environment is Environment.DEVELOPMENT
        return cls(MetricsAccess.PUBLIC if public else MetricsAccess.CLOSED)

    def check(self, authorization: str | None) -> None:
        """Nothing when a request with this `Authorization` header may scrape, else the
        error to answer (403 closed, 401 without the right token)."""
        if self.access is MetricsAccess.PUBLIC:
            return
        if self.access is MetricsAccess.CLOSED:
            raise errors.Forbidden(
                "/metrics is closed: set SANDBOXMESH_METRICS__TOKEN_FILE "
                "(or SANDBOXMESH_METRICS__PUBLIC=true)"
            )
        scheme, _, presented = (authorization or "").partition(" ")
        assert self.token is not None
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        ):
            raise errors.Unauthorized("/metrics needs its bearer token")
