"""The client's I/O-free part: requests built from calls, answers and errors decoded."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.support import api_bodies

import sandboxmesh.client as client_package
from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints, errors
from sandboxmesh.spec.protocol import AGENT_VERSION_HEADER, AssignmentBatch


def _client(handler: httpx.MockTransport) -> ControlPlaneClient:
    return ControlPlaneClient(
        ClientConfig(url="http://cp", token="smu_x_y", agent_version="a/1"), transport=handler
    )


def test_requests_carry_the_token_path_query_and_body() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PUT":
            return httpx.Response(200, json=api_bodies.wire(api_bodies.SANDBOX))
        return httpx.Response(200, json={"items": [], "next": None})

    with _client(httpx.MockTransport(handle)) as client:
        client.send(endpoints.list_sandboxes(team="pay", labels={"pr": "1", "app": "x"}))
        client.send(endpoints.apply_sandbox({"name": "pr 1/x", "spec": {}}))
    listing, applying = seen
    assert listing.headers["authorization"] == "Bearer smu_x_y"
    assert listing.headers[AGENT_VERSION_HEADER] == "a/1"
    assert listing.url.path == "/api/v1/sandboxes"
    assert listing.url.params.get_list("label") == ["pr=1", "app=x"]
    assert listing.url.params["team"] == "pay"
    assert applying.method == "PUT"
    assert applying.url.raw_path == b"/api/v1/sandboxes/pr%201%2Fx"
    assert json.loads(applying.content) == {"name": "pr 1/x", "spec": {}}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (404, "not_found", errors.NotFound),
        (409, "conflict", errors.Conflict),
        (409, "quota_exceeded", errors.QuotaExceeded),
        (413, "payload_too_large", errors.Invalid),
        (422, "invalid", errors.Invalid),
        (503, "not_ready", errors.ApiError),
    ],
)
def test_errors_carry_the_server_code(status: int, code: str, kind: type[Exception]) -> None:
    body = {"code": code, "message": "nope", "details": {"limit": "team"}}
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json=body))
    with _client(transport) as client, pytest.raises(kind) as raised:
        client.send(endpoints.whoami())
    error = raised.value
    assert isinstance(error, errors.ApiError)
    assert (error.status, error.code, error.message, error.details) == (
        status,
        code,
        "nope",
        {"limit": "team"},
    )


def test_a_non_json_error_still_has_a_code() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(502, text="<html>bad gateway"))
    with _client(transport) as client, pytest.raises(errors.ApiError) as raised:
        client.send(endpoints.whoami())
    assert (raised.value.status, raised.value.code) == (502, "http_error")


def test_transport_failures_wrap_httpx() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with (
        _client(httpx.MockTransport(refuse)) as client,
        pytest.raises(errors.ConnectionFailed) as raised,
    ):
        client.send(endpoints.whoami())
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_agent_calls_decode_protocol_models_and_stretch_the_timeout() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"revision": 3, "resync": True, "assignments": []})

    with _client(httpx.MockTransport(handle)) as client:
        batch = client.send(endpoints.assignments(2, wait=25))
    assert batch == AssignmentBatch(revision=3, resync=True)
    assert seen[0].extensions["timeout"]["read"] == 25 + endpoints.LONG_POLL_SLACK


def test_the_public_surface() -> None:
    assert set(client_package.__all__) == {
        "ApiError",
        "AsyncControlPlaneClient",
        "Call",
        "ClientConfig",
        "ClientError",
        "ConnectionFailed",
        "ControlPlaneClient",
        "endpoints",
        "errors",
    }
    for name in client_package.__all__:
        assert getattr(client_package, name) is not None
