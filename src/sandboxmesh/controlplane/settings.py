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
    """How the server meets its clients. uvicorn bounds neither how long a client may take to
    send its request headers nor their size (with httptools): a reverse proxy must
    (docs/controlplane.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Requests with a larger body get 413 before anything is parsed.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
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
    #: Anyone may sign up and create an organisation.
    signup_enabled: bool = True
    #: Cookies marked Secure (HTTPS only); None: Secure outside development.
    secure_cookies: bool | None = None


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
        return self

    def database_path(self) -> Path | None:
        """The SQLite file when the store is SQLite, else None."""
        url = self.database.resolved_url()
        if url.startswith("sqlite"):
            return Path(url.split(":///", 1)[1])
        return None
