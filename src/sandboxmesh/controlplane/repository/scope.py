"""`OrgScope`: everything a caller may reach, bound to the caller's organisation."""

from __future__ import annotations

from sandboxmesh.controlplane.repository.clusters import Clusters
from sandboxmesh.controlplane.repository.create_queue import CreateQueue
from sandboxmesh.controlplane.repository.invitations import Invitations
from sandboxmesh.controlplane.repository.members import Members
from sandboxmesh.controlplane.repository.organizations import OrganizationSettings
from sandboxmesh.controlplane.repository.policies import LifetimePolicies
from sandboxmesh.controlplane.repository.records import Principal
from sandboxmesh.controlplane.repository.route_groups import RouteGroups
from sandboxmesh.controlplane.repository.sandboxes import Sandboxes
from sandboxmesh.controlplane.repository.scoped import AuditLog
from sandboxmesh.controlplane.repository.teams import Teams
from sandboxmesh.controlplane.repository.tokens import ApiTokens
from sandboxmesh.controlplane.repository.traces import RouteTraces
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.repository.usage import Usage
from sandboxmesh.controlplane.repository.webhooks import WebhookSecrets


class OrgScope:
    """The caller's organisation and its teams, members, tokens, clusters, sandboxes, route
    groups, lifetime policies and webhook secret."""

    def __init__(self, tx: Tx, principal: Principal, *, creates: CreateQueue | None = None) -> None:
        """`creates`: the process's queue of sandbox creates (PostgreSQL), if it has one."""
        self.tx = tx
        self.principal = principal
        args = (tx, principal.org_id, principal.actor)
        self.organization = OrganizationSettings(*args)
        self.teams = Teams(*args)
        self.members = Members(*args)
        self.tokens = ApiTokens(*args)
        self.clusters = Clusters(*args)
        self.sandboxes = Sandboxes(*args, creates=creates)
        self.usage = Usage(*args)
        self.audit = AuditLog(*args)
        self.invitations = Invitations(*args)
        self.traces = RouteTraces(*args)
        self.route_groups = RouteGroups(*args)
        self.policies = LifetimePolicies(*args)
        self.webhook_secret = WebhookSecrets(*args)
