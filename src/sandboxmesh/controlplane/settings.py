"""Typed settings of the control plane, grouped by topic (kopf's habit).

Read from the environment (`SANDBOXMESH_...`, nested groups joined by `__`, e.g.
`SANDBOXMESH_AGENT__LONG_POLL_MAX_SECONDS`) or built in code; `create_app(settings)` takes them,
so nothing is read at import time. Outside development they refuse unsafe defaults.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, FilePath, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sandboxmesh import home
from sandboxmesh.spec import preview

DATABASE_FILE = "controlplane.db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class DatabaseSettings(BaseModel):
    #: SQLAlchemy URL; `postgresql://...` or `sqlite:///...`. None: SQLite under SANDBOXMESH_HOME.
    url: str | None = None
    #: Connections each process keeps open to PostgreSQL (SQLite uses its own small pool).
    pool_size: int = Field(default=10, ge=1, le=200)
    #: Connections each process keeps for sandbox creates on PostgreSQL, which it sends in
    #: batches per organisation: as many organisations' batches run at once.
    create_connections: int = Field(default=4, ge=1, le=64)
    #: Apply the Alembic migrations when the server starts.
    migrate_on_start: bool = True

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        return f"sqlite:///{home.sandboxmesh_home() / DATABASE_FILE}"


class HttpSettings(BaseModel):
    """How the server meets its clients (`sandboxmesh server`; docs/controlplane.md says what a
    reverse proxy in front adds)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Requests with a larger body get 413 before anything is parsed.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: Request headers not all received this long after their first byte get 408.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    #: A request line and headers larger than this get 431.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: A body not all received this long after the app asks for it gets 408.
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: An idle connection is closed after this long. Longer than the 60 s idle timeout of
    #: common load balancers, so that the proxy, not the server, closes it (no request lost
    #: to a closing connection).
    keep_alive_seconds: int = Field(default=65, ge=1, le=3600)
    #: Connections and requests in progress a server process holds at once (uvicorn's
    #: limit_concurrency); beyond, requests get 503. Each waiting agent long-poll is one.
    max_concurrency: int = Field(default=4096, ge=1, le=1_000_000)


class AgentSettings(BaseModel):
    #: The longest an agent's long-poll may wait for a change.
    long_poll_max_seconds: float = Field(default=30.0, gt=0, le=300)
    #: An agent not heard from for this long is `stale`.
    stale_after_seconds: float = Field(default=90.0, gt=0)
    #: How long the previous cluster token keeps working after a rotation, by default.
    rotation_grace_seconds: int = Field(default=3600, ge=0, le=30 * 86400)


class SweeperSettings(BaseModel):
    #: How often the control plane looks for sandboxes whose TTL has run out.
    interval_seconds: float = Field(default=30.0, gt=0)


class TokenSettings(BaseModel):
    #: Lifetime of API tokens created without an explicit expiry.
    default_ttl_days: int = Field(default=90, ge=1, le=3650)


class PortalSettings(BaseModel):
    #: How long a portal sign-in lasts (absolute, from the sign-in).
    session_ttl_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 86400)
    #: How long an invitation link can be used.
    invitation_ttl_hours: int = Field(default=72, ge=1, le=30 * 24)
    #: How long the link that confirms an email address can be used.
    verification_ttl_hours: int = Field(default=24, ge=1, le=7 * 24)
    #: Anyone may sign up and create an organisation.
    signup_enabled: bool = True
    #: Cookies marked Secure (HTTPS only); None: Secure outside development.
    secure_cookies: bool | None = None


class PreviewSettings(BaseModel):
    """Authenticated preview URLs (docs/preview-urls.md): the tokens the portal signs."""

    #: How long a preview token lets its browser in (the gateway's cookie lasts as long).
    token_seconds: int = Field(default=3600, ge=60, le=preview.MAX_TOKEN_SECONDS)


class SmtpSecurity(StrEnum):
    #: Plain connection upgraded by STARTTLS (port 587), refused if the server cannot.
    STARTTLS = "starttls"
    #: TLS from the first byte (port 465).
    TLS = "tls"
    #: No encryption: only for a relay on the same machine (development, a local MTA).
    NONE = "none"


class MailSettings(BaseModel):
    """Where the portal's mail goes: address confirmations and invitations.

    Without `smtp_host` no mail is sent: `member add` then hands the invitation link to whoever
    added the member, and the portal cannot confirm addresses (sign-up says so).
    """

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_user: str | None = None
    #: The SMTP password, read from this file (never from the environment or a flag).
    smtp_password_file: Path | None = None
    #: The From of every mail.
    sender: str = Field(default="SandboxMesh <sandboxmesh@localhost>", min_length=3, max_length=254)
    #: The longest one mail may take to hand over to the server.
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _password_with_user(self) -> Self:
        if self.smtp_user and self.smtp_password_file is None:
            raise ValueError("mail.smtp_user needs mail.smtp_password_file")
        return self

    @property
    def enabled(self) -> bool:
        return self.smtp_host is not None


class ThrottleSettings(BaseModel):
    """Limits on what costs a password hash (64 MiB and tens of ms each) or sends a mail.

    Each limit is a bucket: `*_burst` tries at once, then one more every `*_refill_seconds`.
    The buckets live in each server process (with `--workers N`, N times the figures).
    """

    #: Tries for one account since its last right password (log-ins, mailed links).
    account_burst: int = Field(default=10, ge=1)
    account_refill_seconds: float = Field(default=60.0, gt=0)
    #: Password tries of any outcome from one client address.
    address_burst: int = Field(default=30, ge=1)
    address_refill_seconds: float = Field(default=2.0, gt=0)
    #: Mails to one address (confirmations and invitations), against mail bombing.
    mail_burst: int = Field(default=3, ge=1)
    mail_refill_seconds: float = Field(default=600.0, gt=0)
    #: Password hashes computed at once; the rest wait their turn.
    hash_concurrency: int = Field(default=2, ge=1, le=64)
    #: Hashes allowed to wait; one more is refused with 503 at once.
    hash_queue: int = Field(default=64, ge=0)
    #: Client addresses and accounts remembered (the least recently seen are forgotten).
    max_tracked: int = Field(default=100_000, ge=100)


class MetricsSettings(BaseModel):
    #: A file holding the token a scrape of /metrics sends as `Authorization: Bearer <token>`
    #: (read when the server starts; surrounding blanks ignored).
    token_file: FilePath | None = None
    #: /metrics for anyone, without a token. None: in development only; in production,
    #: without a token file, /metrics answers 403.
    public: bool | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if self.token_file is not None and self.public:
            raise ValueError("metrics: a token file and public are exclusive, choose one")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SANDBOXMESH_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Environment = Environment.DEVELOPMENT
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    sweeper: SweeperSettings = Field(default_factory=SweeperSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    preview: PreviewSettings = Field(default_factory=PreviewSettings)
    #: The address people reach the portal at, for the links in mails and pages
    #: (https://sandboxmesh.example.com). None: http://HOST:PORT of `http` (development only).
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    #: JSON log lines (the default) or plain text for a person at a terminal.
    json_logs: bool = True
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _safe_outside_development(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if not self.database.url:
                raise ValueError(
                    "production needs an explicit database URL (SANDBOXMESH_DATABASE__URL)"
                )
            if self.agent.stale_after_seconds <= self.agent.long_poll_max_seconds:
                raise ValueError("agent.stale_after_seconds must exceed long_poll_max_seconds")
            if self.portal.secure_cookies is False:
                raise ValueError("production refuses portal cookies without Secure")
            if not self.public_url:
                raise ValueError(
                    "production needs the portal's public address for the links it sends "
                    "(SANDBOXMESH_PUBLIC_URL=https://...)"
                )
            if (
                self.mail.enabled
                and self.mail.smtp_security is SmtpSecurity.NONE
                and self.mail.smtp_host not in ("localhost", "127.0.0.1", "::1")
            ):
                raise ValueError("production refuses SMTP without TLS to another host")
        return self

    def portal_base_url(self) -> str:
        """Where links in mails and pages point: `public_url`, else this server's address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.http.host}:{self.http.port}"

    def database_path(self) -> Path | None:
        """The SQLite file when the store is SQLite, else None."""
        url = self.database.resolved_url()
        if url.startswith("sqlite"):
            return Path(url.split(":///", 1)[1])
        return None
