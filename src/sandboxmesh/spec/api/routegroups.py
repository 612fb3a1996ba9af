"""Route groups as the API shows them: the user's spec, the key issued, and the members and
conflicts the control plane reads from its sandboxes' labels and specs."""

from __future__ import annotations

from datetime import datetime

from sandboxmesh.spec.api.base import ApiModel
from sandboxmesh.spec.preview import PreviewUrl
from sandboxmesh.spec.routegroup import GroupConflict, RouteGroupSpec


class RouteGroupMember(ApiModel):
    """A sandbox the group's selector matches (on the group's cluster, not being deleted)."""

    name: str
    team: str
    phase: str
    #: The baselines it forks, as `Kind/namespace/name`.
    forks: list[str]


class RouteGroupPublic(ApiModel):
    name: str
    cluster: str
    spec: RouteGroupSpec
    #: Bumped by every change of the spec.
    generation: int
    routing_key: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    members: list[RouteGroupMember]
    #: Baselines that several members fork: the group's key reaches neither fork there.
    conflicts: list[GroupConflict]
    #: The members' preview URLs under the group's key (spec.preview.group_preview_urls).
    preview_urls: list[PreviewUrl] = []


class RouteGroupList(ApiModel):
    items: list[RouteGroupPublic]
    #: Pass as `after` to get the next page; null on the last page.
    next: str | None
