"""Every management call decodes its answer into the API's model (`sandboxmesh.spec.api`), and
an answer that is not that model is a client error naming it, never a KeyError later."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pydantic
import pytest
from tests.support.api_bodies import (
    AT,
    CLUSTER,
    CLUSTER_TOKEN,
    MEMBER,
    ORGANIZATION,
    SANDBOX,
    TEAM,
    TOKEN,
    wire,
)

from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints, errors
from sandboxmesh.controlplane.app import create_app
from sandboxmesh.controlplane.settings import Settings
from sandboxmesh.spec.api import (
    AuditEventPublic,
    AuditList,
    ClusterList,
    ClusterRegistered,
    ClusterTokenList,
    InvitationSent,
    MemberCreated,
    MemberList,
    Role,
    SandboxList,
    TeamList,
    TeamUsage,
    TokenCreated,
    TokenList,
    TokenRotated,
    UsageLine,
    UsageStatement,
    WhoAmI,
)

#: Each management call with the body its answer carries.
ANSWERS: list[tuple[Callable[[], endpoints.Call[Any]], pydantic.BaseModel]] = [
    (endpoints.whoami, WhoAmI(email="dev@example.com", role=Role.ADMIN, organization="acme")),
    (endpoints.organization, ORGANIZATION),
    (lambda: endpoints.set_organization_quota(9), ORGANIZATION),
    (lambda: endpoints.set_plan("team"), ORGANIZATION),
    (
        endpoints.audit,
        AuditList(
            items=[
                AuditEventPublic(
                    at=AT, actor="dev@example.com", action="team.create", target="t", details={}
                )
            ]
        ),
    ),
    (
        endpoints.usage,
        UsageStatement(
            organization="acme",
            month="2026-12",
            total_sandbox_hours=1.5,
            teams=[TeamUsage(team="payments", sandboxes=1, sandbox_hours=1.5)],
            lines=[
                UsageLine(
                    team="payments",
                    sandbox="pr-42",
                    started_at=AT,
                    ended_at=None,
                    sandbox_hours=1.5,
                )
            ],
        ),
    ),
    (endpoints.list_teams, TeamList(items=[TEAM])),
    (lambda: endpoints.create_team("payments"), TEAM),
    (lambda: endpoints.get_team("payments"), TEAM),
    (lambda: endpoints.set_team_quota("payments", 4), TEAM),
    (endpoints.list_members, MemberList(items=[MEMBER])),
    (
        lambda: endpoints.add_member("dev@example.com"),
        MemberCreated(
            member=MEMBER,
            invitation=InvitationSent(
                prefix="smi_ab", expires_at=AT, mailed=False, link="http://x"
            ),
        ),
    ),
    (lambda: endpoints.get_member("dev@example.com"), MEMBER),
    (lambda: endpoints.update_member("dev@example.com", role="admin"), MEMBER),
    (endpoints.list_tokens, TokenList(items=[TOKEN])),
    (lambda: endpoints.create_token("ci"), TokenCreated(token=TOKEN, secret="smu_ab_cd")),
    (lambda: endpoints.revoke_token("smu_ab"), TOKEN),
    (endpoints.list_clusters, ClusterList(items=[CLUSTER])),
    (lambda: endpoints.register_cluster("staging"), ClusterRegistered(cluster=CLUSTER, token="t")),
    (lambda: endpoints.get_cluster("staging"), CLUSTER),
    (lambda: endpoints.list_cluster_tokens("staging"), ClusterTokenList(items=[CLUSTER_TOKEN])),
    (
        lambda: endpoints.rotate_cluster_token("staging"),
        TokenRotated(token="smc_cd_ef", prefix="smc_cd", previous_valid_until=AT),
    ),
    (
        lambda: endpoints.revoke_cluster_tokens("staging"),
        ClusterTokenList(items=[CLUSTER_TOKEN]),
    ),
    (lambda: endpoints.apply_sandbox({"name": "pr-42"}), SANDBOX),
    (endpoints.list_sandboxes, SandboxList(items=[SANDBOX], next="pr-42")),
    (lambda: endpoints.get_sandbox("pr-42"), SANDBOX),
    (lambda: endpoints.delete_sandbox("pr-42"), SANDBOX),
]


def _answering(status: int, **content: Any) -> ControlPlaneClient:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, **content))
    return ControlPlaneClient(ClientConfig(url="http://cp", token="smu_x_y"), transport=transport)


@pytest.mark.parametrize(("call", "body"), ANSWERS, ids=lambda v: getattr(v, "__name__", ""))
def test_each_management_call_decodes_into_its_model(
    call: Callable[[], endpoints.Call[Any]], body: pydantic.BaseModel
) -> None:
    with _answering(200, json=wire(body)) as client:
        decoded = client.send(call())
    assert type(decoded) is type(body)
    assert decoded == body
    # What the CLI prints with -o json is what the server sent.
    assert wire(decoded) == wire(body)


def test_calls_without_a_body_answer_none() -> None:
    with _answering(204) as client:
        assert client.send(endpoints.delete_team("payments")) is None
        assert client.send(endpoints.remove_member("dev@example.com")) is None
        assert client.send(endpoints.delete_cluster("staging")) is None


def test_fields_a_newer_server_added_are_ignored() -> None:
    answer = wire(SANDBOX) | {"newField": 1}
    answer["status"] = answer["status"] | {"previewUrls": []}
    with _answering(200, json=answer) as client:
        assert client.send(endpoints.get_sandbox("pr-42")) == SANDBOX


def test_the_agent_protocol_stays_strict() -> None:
    """Unlike management answers, an assignment batch with an unknown field is refused."""
    batch = {"revision": 3, "resync": True, "assignments": [], "newField": 1}
    with _answering(200, json=batch) as client, pytest.raises(pydantic.ValidationError):
        client.send(endpoints.assignments(0, wait=1))


@pytest.mark.parametrize(
    ("content", "names"),
    [
        ({"json": {"name": "pr-42"}}, "team: Field required (and 10 more)"),
        ({"json": wire(SANDBOX) | {"generation": "two"}}, "generation"),
        ({"json": wire(SANDBOX) | {"status": {"phase": "Sleeping"}}}, "status.phase"),
        ({"json": [wire(SANDBOX)]}, "the body"),
        ({"text": "<html>a proxy's page</html>"}, "the body"),
    ],
    ids=["missing-fields", "wrong-type", "unknown-phase", "a-list", "not-json"],
)
def test_a_malformed_answer_is_a_client_error_naming_the_model(
    content: dict[str, Any], names: str
) -> None:
    with _answering(200, **content) as client, pytest.raises(errors.UnexpectedResponse) as raised:
        client.send(endpoints.get_sandbox("pr-42"))
    message = str(raised.value)
    assert "is not a SandboxPublic" in message
    assert names in message
    assert "\n" not in message
    assert isinstance(raised.value, errors.ClientError)
    assert isinstance(raised.value.__cause__, pydantic.ValidationError)


def test_times_keep_their_wire_text() -> None:
    """Times round-trip to the text the server wrote, so `-o json` prints the same bytes."""
    body = wire(SANDBOX)
    with _answering(200, json=body) as client:
        decoded = client.send(endpoints.get_sandbox("pr-42"))
    assert wire(decoded)["createdAt"] == body["createdAt"] == "2026-12-07T12:30:15.250000Z"
    assert decoded.created_at == AT


def _declared_answer(document: dict[str, Any], method: str, path: str) -> str:
    """The schema the server's OpenAPI document names for the 2xx answer to `method path`."""
    for template, operations in document["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            responses = operations[method.lower()]["responses"]
            ok = next(code for code in responses if code in ("200", "201", "202"))
            ref: str = responses[ok]["content"]["application/json"]["schema"]["$ref"]
            return ref.rsplit("/", 1)[1]
    raise AssertionError(f"no route for {method} {path}")


def test_each_call_decodes_into_the_model_the_server_declares() -> None:
    document = create_app(Settings()).openapi()
    for call, body in ANSWERS:
        built = call()
        declared = _declared_answer(document, built.method, built.path)
        assert declared == type(body).__name__, built.path
    # Every body keeps its own name: none is qualified by a module, as two classes of one
    # name would be.
    assert all("__" not in name for name in document["components"]["schemas"])
