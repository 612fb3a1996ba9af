"""The schema as SQLAlchemy Core tables; the Alembic migrations create exactly these.

Rows are found by name inside an organisation; integer ids never leave the control plane.
Counters (`active_sandboxes`, `revision`) are changed only by conditional UPDATEs, which both
SQLite and PostgreSQL apply atomically.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, stored naive in UTC (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite expressions such as MAX() lose the column type
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", UtcDateTime, nullable=False)


organizations = sa.Table(
    "organizations",
    metadata,
    _id(),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("plan", sa.String(32), nullable=False),
    sa.Column("max_sandboxes", sa.Integer, nullable=True),
    sa.Column("active_sandboxes", sa.Integer, nullable=False, server_default="0"),
    _created_at(),
    # The lifetime policy (domain/lifetime_policy.py), durations in seconds; None: no bound.
    sa.Column("policy_default_ttl_seconds", sa.Integer, nullable=True),
    sa.Column("policy_max_ttl_seconds", sa.Integer, nullable=True),
    sa.Column("policy_default_idle_seconds", sa.Integer, nullable=True),
    sa.Column("policy_max_sandboxes_per_member", sa.Integer, nullable=True),
)

teams = sa.Table(
    "teams",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("max_sandboxes", sa.Integer, nullable=True),
    sa.Column("active_sandboxes", sa.Integer, nullable=False, server_default="0"),
    _created_at(),
    sa.UniqueConstraint("org_id", "name"),
    # The lifetime policy (domain/lifetime_policy.py), durations in seconds; None: no bound.
    sa.Column("policy_default_ttl_seconds", sa.Integer, nullable=True),
    sa.Column("policy_max_ttl_seconds", sa.Integer, nullable=True),
    sa.Column("policy_default_idle_seconds", sa.Integer, nullable=True),
    sa.Column("policy_max_sandboxes_per_member", sa.Integer, nullable=True),
)

members = sa.Table(
    "members",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("default_team_id", sa.ForeignKey("teams.id", ondelete="SET NULL"), nullable=True),
    _created_at(),
    # Set when the person accepted (an invitation, or creating the organisation): until then
    # the membership is pending and opens nothing, neither a portal session nor a token.
    sa.Column("accepted_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "email"),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("member_id", sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("member_id", sa.ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    _created_at(),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
)

clusters = sa.Table(
    "clusters",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    # The cluster's assignment revision: bumped (under the row lock) by every intent change.
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_seen_at", UtcDateTime, nullable=True),
    sa.Column("agent_version", sa.String(64), nullable=True),
    _created_at(),
    sa.UniqueConstraint("org_id", "name"),
)

cluster_tokens = sa.Table(
    "cluster_tokens",
    metadata,
    _id(),
    sa.Column("cluster_id", sa.ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    _created_at(),
    # Set when a rotation replaces the token: it keeps working until then (the grace period).
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

sandboxes = sa.Table(
    "sandboxes",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("team_id", sa.ForeignKey("teams.id"), nullable=False),
    sa.Column("cluster_id", sa.ForeignKey("clusters.id"), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("routing_key", sa.String(16), nullable=False, unique=True),
    sa.Column("status", Json, nullable=True),
    sa.Column("observed_generation", sa.Integer, nullable=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("deleting", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("deletion_requested_at", UtcDateTime, nullable=True),
    # The cluster revision of the last intent change: the agent's long-poll cursor.
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(300), nullable=False),
    _created_at(),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "name"),
    sa.Index("ix_sandboxes_cluster_revision", "cluster_id", "revision"),
    sa.Index("ix_sandboxes_expiry", "deleting", "expires_at"),
)

sandbox_labels = sa.Table(
    "sandbox_labels",
    metadata,
    sa.Column("sandbox_id", sa.ForeignKey("sandboxes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("value", sa.String(63), nullable=False),
    sa.Index("ix_sandbox_labels_key_value", "key", "value"),
)

# One row per sandbox lifetime: metering outlives the sandbox and its team.
usage_records = sa.Table(
    "usage_records",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("team_name", sa.String(63), nullable=False),
    sa.Column("sandbox_name", sa.String(63), nullable=False),
    sa.Column("sandbox_id", sa.Integer, nullable=False, index=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Index("ix_usage_records_org_started", "org_id", "started_at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(300), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Index("ix_audit_events_org_at", "org_id", "at"),
)

# The portal's accounts: one per person (email), whatever organisations they belong to; a
# member of an organisation signs in to the portal with the account of the same email.
users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    # argon2id, in the PHC string format (algorithm and parameters included).
    sa.Column("password_hash", sa.String(255), nullable=False),
    _created_at(),
    # When the owner of the address proved it (opened a link mailed to it); an account
    # without it signs in to nothing.
    sa.Column("email_verified_at", UtcDateTime, nullable=True),
    # Where the next sign-in lands: the organisation this account last worked in.
    sa.Column("last_org_id", sa.ForeignKey("organizations.id", ondelete="SET NULL"), nullable=True),
)

# Server-side portal sessions: the cookie carries a random token, the store its digest, so
# log-out and expiry take effect on the next request.
portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    _id(),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    # The organisation the session is working in (the user may belong to several).
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    _created_at(),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# Invitations to an organisation by link: single-use, expiring, the role chosen by the inviter.
invitations = sa.Table(
    "invitations",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("team_id", sa.ForeignKey("teams.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_by", sa.String(300), nullable=False),
    _created_at(),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("accepted_at", UtcDateTime, nullable=True),
    sa.Column("accepted_by", sa.String(254), nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    # The address it was sent to: only that address's verified account may accept it (it
    # then accepts that address's pending membership). None: an open link for anyone.
    sa.Column("email", sa.String(254), nullable=True),
)

# Links mailed to an address to prove it, and what to do once it is proven: create the
# organisation asked for at sign-up, accept an invitation. Whoever opens the link chooses the
# account's password then (never before: a password chosen by whoever asked for the link would
# be the asker's). Single-use and expiring; the store keeps the token's digest.
email_verifications = sa.Table(
    "email_verifications",
    metadata,
    _id(),
    sa.Column("prefix", sa.String(32), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("email", sa.String(254), nullable=False, index=True),
    sa.Column("organization", sa.String(63), nullable=True),
    sa.Column("invitation_id", sa.ForeignKey("invitations.id", ondelete="CASCADE"), nullable=True),
    _created_at(),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

# Route traces a user asked for (`route trace`): the cluster's agent is told of each through
# its long-poll (the row's `revision`, like a sandbox's) and reports the route server's hops.
# Rows go with their sandbox, and the sweeper prunes them after `domain.traces.KEEP`.
route_traces = sa.Table(
    "route_traces",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("cluster_id", sa.ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False),
    sa.Column("sandbox_id", sa.ForeignKey("sandboxes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("trace_id", sa.String(32), nullable=False),
    # The cluster revision the request was made at: the agent's long-poll cursor.
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("requested_by", sa.String(300), nullable=False),
    _created_at(),
    sa.Column("answered_at", UtcDateTime, nullable=True),
    # The hops as the agent reported them (at most protocol.MAX_TRACE_HOPS, fields bounded).
    sa.Column("hops", Json, nullable=True),
    sa.UniqueConstraint("cluster_id", "trace_id"),
    sa.Index("ix_route_traces_cluster_revision", "cluster_id", "revision"),
    sa.Index("ix_route_traces_sandbox_created", "sandbox_id", "created_at"),
    sa.Index("ix_route_traces_created_at", "created_at"),
)


# Route groups (intent): one routing key across the sandboxes of a cluster that a label
# selector matches. A deleted group stays as a tombstone (`deleting`) until its cluster's
# agent has polled past the revision that deleted it (repository/route_groups.py); several
# tombstones of one name may wait so, beside the live group of that name.
route_groups = sa.Table(
    "route_groups",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("cluster_id", sa.ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("routing_key", sa.String(16), nullable=False, unique=True),
    sa.Column("deleting", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(300), nullable=False),
    _created_at(),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    # A name is unique among the live groups: a tombstone (of another cluster, perhaps) must
    # not keep a new group of the same name from being created.
    sa.Index(
        "uq_route_groups_org_id_name_live",
        "org_id",
        "name",
        unique=True,
        sqlite_where=sa.text("NOT deleting"),
        postgresql_where=sa.text("NOT deleting"),
    ),
    sa.Index("ix_route_groups_cluster_revision", "cluster_id", "revision"),
    sa.Index("ix_route_groups_expiry", "deleting", "expires_at"),
)


# The keys that sign preview tokens (domain/preview_keys.py): one installation-wide set, not
# an organisation's. The key that signs has `slot` 'current'; the unique constraint keeps two
# processes that create the first key at once from both succeeding (the loser reads the
# winner's). Keys with no slot would be published for verification only (rotation).
preview_signing_keys = sa.Table(
    "preview_signing_keys",
    metadata,
    _id(),
    sa.Column("kid", sa.String(64), nullable=False, unique=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("slot", sa.String(16), nullable=True, unique=True),
    # PKCS#8 PEM of the private half.
    sa.Column("private_key", sa.Text, nullable=False),
    # The public half as a JWK (kid, kty, crv, x, y, alg, use).
    sa.Column("public_jwk", Json, nullable=False),
    _created_at(),
    # Set when the key stops signing; it stays published until its last token expired.
    sa.Column("retired_at", UtcDateTime, nullable=True),
)


# The secret GitHub signs an organisation's webhook deliveries with (domain/webhooks.py): one
# per organisation, replaced by a rotation. Stored is SHA-256 of the secret, which is the key
# HMAC-SHA256 itself uses for a secret longer than its 64-byte block: it verifies signatures
# without the secret's text, but it is as good as the secret for signing (docs/policy.md).
webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("key_digest", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(300), nullable=False),
    _created_at(),
)

# The webhook deliveries accepted (their X-GitHub-Delivery), so that a replay is refused;
# the sweeper forgets them after `domain.webhooks.REPLAY_WINDOW`.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    _id(),
    sa.Column("org_id", sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("delivery_id", sa.String(64), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
    sa.UniqueConstraint("org_id", "delivery_id"),
)
