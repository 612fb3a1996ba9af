"""The control plane API's public bodies: what the server answers and what clients send.

The control plane builds its answers from these models and the client decodes them into the
same ones, so the wire format is declared once. Free of the control plane's internals: how a
body is made from stored records lives with the server (`controlplane.api.schemas`).
"""

from sandboxmesh.spec.api.base import (
    ApiModel,
    ApiRequest,
    ErrorBody,
)
from sandboxmesh.spec.api.clusters import (
    ClusterCreate,
    ClusterList,
    ClusterPublic,
    ClusterRegistered,
    ClusterTokenList,
    ClusterTokenPublic,
    ConnectionState,
    TokenRevoke,
    TokenRotate,
    TokenRotated,
)
from sandboxmesh.spec.api.policy import (
    LifetimePolicyPublic,
    LifetimePolicyUpdate,
    LifetimePolicyValues,
)
from sandboxmesh.spec.api.sandboxes import (
    SandboxList,
    SandboxPublic,
)
from sandboxmesh.spec.api.tenancy import (
    Email,
    InvitationSent,
    Limit,
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberPublic,
    MemberUpdate,
    OrganizationPublic,
    Plan,
    PlanUpdate,
    QuotaUpdate,
    Role,
    TeamCreate,
    TeamList,
    TeamPublic,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenPublic,
    WhoAmI,
)
from sandboxmesh.spec.api.traces import (
    TraceCreate,
    TraceList,
    TracePublic,
    TraceState,
)
from sandboxmesh.spec.api.usage import (
    AuditEventPublic,
    AuditList,
    DailyUsage,
    TeamDailyUsage,
    TeamUsage,
    UsageLine,
    UsageStatement,
)
from sandboxmesh.spec.api.webhooks import (
    WebhookDelivery,
    WebhookSecretCreated,
    WebhookSecretPublic,
)

__all__ = [
    "ApiModel",
    "ApiRequest",
    "AuditEventPublic",
    "AuditList",
    "ClusterCreate",
    "ClusterList",
    "ClusterPublic",
    "ClusterRegistered",
    "ClusterTokenList",
    "ClusterTokenPublic",
    "ConnectionState",
    "DailyUsage",
    "Email",
    "ErrorBody",
    "InvitationSent",
    "LifetimePolicyPublic",
    "LifetimePolicyUpdate",
    "LifetimePolicyValues",
    "Limit",
    "MemberCreate",
    "MemberCreated",
    "MemberList",
    "MemberPublic",
    "MemberUpdate",
    "OrganizationPublic",
    "Plan",
    "PlanUpdate",
    "QuotaUpdate",
    "Role",
    "SandboxList",
    "SandboxPublic",
    "TeamCreate",
    "TeamDailyUsage",
    "TeamList",
    "TeamPublic",
    "TeamUsage",
    "TokenCreate",
    "TokenCreated",
    "TokenList",
    "TokenPublic",
    "TokenRevoke",
    "TokenRotate",
    "TokenRotated",
    "TraceCreate",
    "TraceList",
    "TracePublic",
    "TraceState",
    "UsageLine",
    "UsageStatement",
    "WebhookDelivery",
    "WebhookSecretCreated",
    "WebhookSecretPublic",
    "WhoAmI",
]
