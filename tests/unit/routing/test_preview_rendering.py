"""The preview gateway's pure parts: hosts from sandboxes, keys from the agent's ConfigMap,
the node metadata that makes an Envoy the gateway, and the routes it gets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandboxmesh.routing.core import gateway, preview_signin
from sandboxmesh.routing.core.fronts import InvalidGateway, gateway_from_metadata
from sandboxmesh.routing.core.gateway import PreviewHost
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.preview_signin import PreviewKeys
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef, sandbox_view
from sandboxmesh.spec import preview
from sandboxmesh.spec.preview import Access

KEY = "abcdefgh12345678"


def _sandbox(name: str, key: str, urls: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {"routingKey": key},
        "status": {"phase": "Ready", "ready": True, "previewUrls": urls},
    }


def _url(name: str, key: str, access: str = "authenticated", port: int = 80) -> dict[str, Any]:
    return {
        "name": name,
        "url": f"https://{name}-{key}.preview.test:8443/",
        "namespace": "shop",
        "service": name,
        "port": port,
        "access": access,
    }


def test_hosts_come_from_live_sandboxes_preview_urls() -> None:
    views = [
        sandbox_view(_sandbox("pr-1", KEY, [_url("web", KEY, "public"), _url("api", KEY)])),
        sandbox_view(
            _sandbox(
                "pr-2",
                "zzzzzzzzzz",
                [_url("web", "zzzzzzzzzz")],
                deletionTimestamp="2026-01-01T00:00:00Z",
            )
        ),
    ]
    hosts = gateway.preview_hosts(views)
    assert hosts == (
        PreviewHost(
            f"api-{KEY}.preview.test",
            "pr-1",
            KEY,
            ServiceRef("shop", "api"),
            80,
            Access.AUTHENTICATED,
            f"https://api-{KEY}.preview.test:8443",
        ),
        PreviewHost(
            f"web-{KEY}.preview.test",
            "pr-1",
            KEY,
            ServiceRef("shop", "web"),
            80,
            Access.PUBLIC,
            f"https://web-{KEY}.preview.test:8443",
        ),
    )


def test_a_host_two_sandboxes_claim_goes_to_the_first_by_name() -> None:
    url = _url("web", KEY)
    views = [sandbox_view(_sandbox(n, KEY, [url])) for n in ("pr-b", "pr-a")]
    assert [h.sandbox for h in gateway.preview_hosts(views)] == ["pr-a"]


def _jwks() -> str:
    return json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]})


@pytest.mark.parametrize(
    ("data", "usable"),
    [
        (None, False),
        ({}, False),
        ({"issuer": "https://cp", "authorizeUrl": "https://cp/a", "jwks.json": _jwks()}, True),
        ({"issuer": "https://cp", "authorizeUrl": "https://cp/a", "jwks.json": "{"}, False),
        ({"issuer": "https://cp", "authorizeUrl": "https://cp/a", "jwks.json": "[]"}, False),
        ({"issuer": "", "authorizeUrl": "https://cp/a", "jwks.json": _jwks()}, False),
        ({"issuer": "https://cp", "authorizeUrl": "javascript:x", "jwks.json": _jwks()}, False),
    ],
)
def test_keys_from_the_agents_configmap(data: dict[str, str] | None, usable: bool) -> None:
    keys = preview_signin.keys_from_configmap(data)
    assert (keys is not None) is usable


def test_the_gateway_node_metadata_parses_or_is_refused() -> None:
    assert gateway_from_metadata({}) is None
    parsed = gateway_from_metadata({"sandboxmesh.io/gateway": {"listen_port": 8080}})
    assert parsed is not None
    assert parsed.listen_port == 8080
    with pytest.raises(InvalidGateway, match="both a certificate and a key"):
        gateway_from_metadata(
            {"sandboxmesh.io/gateway": {"listen_port": 1, "tls_certificate_file": "/c"}}
        )
    with pytest.raises(InvalidGateway, match="does not parse"):
        gateway_from_metadata({"sandboxmesh.io/gateway": {"listen_port": "x", "extra": 1}})


def _hosts(access: Access) -> tuple[PreviewHost, ...]:
    return (
        PreviewHost(
            f"web-{KEY}.preview.test",
            "pr-1",
            KEY,
            ServiceRef("shop", "web"),
            80,
            access,
            f"https://web-{KEY}.preview.test",
        ),
    )


def test_routes_go_to_the_fork_when_the_sandbox_forks_the_entry_service() -> None:
    fork = ServiceRef("shop", "web-pr-1")
    table = RouteTable(routes={ServiceRef("shop", "web"): (ForkRoute(KEY, "pr-1", fork),)})
    config = gateway.route_configuration(
        _hosts(Access.PUBLIC), table, KeyHeaders.with_extra(["x-tenant"]), None, lambda _: True
    )
    host, unknown = config.virtual_hosts
    assert host.routes[0].route.cluster == "fork|shop|web-pr-1|80"
    assert list(host.request_headers_to_remove) == [
        "x-sandboxmesh-routing-key",
        "x-tenant",
        preview.TOKEN_HEADER,
    ]
    assert host.request_headers_to_add[0].header.value == f"sandboxmesh-routing-key={KEY}"
    assert list(unknown.domains) == ["*"]
    assert unknown.routes[0].direct_response.status == 404
    # Not forked: the entry Service itself.
    plain = gateway.route_configuration(
        _hosts(Access.PUBLIC), RouteTable(), KeyHeaders(), None, lambda _: True
    )
    assert plain.virtual_hosts[0].routes[0].route.cluster == "preview|shop|web|80"
    # A cluster Envoy does not have yet: no route (404) rather than a route Envoy refuses.
    waiting = gateway.route_configuration(
        _hosts(Access.PUBLIC), RouteTable(), KeyHeaders(), None, lambda _: False
    )
    assert [v.name for v in waiting.virtual_hosts] == ["unknown"]


def test_authenticated_hosts_need_the_keys_and_carry_the_sign_in_steps() -> None:
    waiting = gateway.route_configuration(
        _hosts(Access.AUTHENTICATED), RouteTable(), KeyHeaders(), None, lambda _: True
    )
    assert waiting.virtual_hosts[0].routes[0].direct_response.status == 503
    keys = PreviewKeys("https://cp", "https://cp/preview/authorize", _jwks())
    config = gateway.route_configuration(
        _hosts(Access.AUTHENTICATED), RouteTable(), KeyHeaders(), keys, lambda _: True
    )
    route = config.virtual_hosts[0].routes[0]
    assert preview_signin.JWT_FILTER in route.typed_per_filter_config
    lua = route.metadata.filter_metadata[preview_signin.LUA_FILTER]
    assert lua["host"] == f"web-{KEY}.preview.test"
    assert lua["authorize"] == "https://cp/preview/authorize"
    listener = gateway.listener(gateway.Gateway(listen_port=8080), keys)
    assert "jwt_authn" in str(listener)


GROUP_KEY = "groupkey1234abcd"


def _group(name: str, labels: dict[str, str], key: str = GROUP_KEY) -> Any:
    from sandboxmesh.routing.core.groups import route_group_view

    return route_group_view(
        {
            "metadata": {"name": name},
            "spec": {"routingKey": key, "selector": {"matchLabels": labels}},
        }
    )


def _member(name: str, key: str, urls: list[dict[str, Any]]) -> dict[str, Any]:
    sandbox = _sandbox(name, key, urls)
    sandbox["spec"]["labels"] = {"pr": "42"}
    return sandbox


def test_a_route_group_serves_its_members_endpoints_under_its_own_key() -> None:
    other = "otherkey12345678"
    views = [
        sandbox_view(_member("pr-a", KEY, [_url("web", KEY), _url("api", KEY, "public")])),
        # The same endpoint name for another Service: the first member (by name) keeps it.
        sandbox_view(_member("pr-b", other, [{**_url("web", other), "service": "web2"}])),
        sandbox_view(_sandbox("pr-c", "cccccccccccc", [_url("x", "cccccccccccc")])),
    ]
    hosts = gateway.preview_hosts(views, [_group("pr-42", {"pr": "42"})])
    grouped = {h.host: h for h in hosts if h.group is not None}
    assert set(grouped) == {
        f"api-{GROUP_KEY}.preview.test",
        f"web-{GROUP_KEY}.preview.test",
    }
    web = grouped[f"web-{GROUP_KEY}.preview.test"]
    assert (web.sandbox, web.key, web.entry.name, web.access) == (
        "pr-42",
        GROUP_KEY,
        "web",
        Access.AUTHENTICATED,
    )
    assert web.origin == f"https://web-{GROUP_KEY}.preview.test:8443"
    assert grouped[f"api-{GROUP_KEY}.preview.test"].access is Access.PUBLIC
    # The members' own hosts stay.
    assert f"web-{KEY}.preview.test" in {h.host for h in hosts}

    # The group's host routes the entry hop by the group's route, not a member's own.
    fork = ServiceRef("shop", "web-pr-a")
    table = RouteTable(
        routes={
            ServiceRef("shop", "web"): (
                ForkRoute(KEY, "pr-a", ServiceRef("shop", "web-own")),
                ForkRoute(GROUP_KEY, "pr-a", fork, group="pr-42"),
            )
        }
    )
    config = gateway.route_configuration((web,), table, KeyHeaders(), None, lambda _: True)
    assert config.virtual_hosts[0].routes[0].direct_response.status == 503  # no keys yet
    public = gateway.route_configuration(
        (grouped[f"api-{GROUP_KEY}.preview.test"],), table, KeyHeaders(), None, lambda _: True
    )
    assert public.virtual_hosts[0].routes[0].route.cluster == "preview|shop|api|80"
    keys = PreviewKeys("https://cp", "https://cp/preview/authorize", _jwks())
    signed = gateway.route_configuration((web,), table, KeyHeaders(), keys, lambda _: True)
    assert signed.virtual_hosts[0].routes[0].route.cluster == "fork|shop|web-pr-a|80"
    assert signed.virtual_hosts[0].request_headers_to_add[0].header.value.endswith(GROUP_KEY)


def test_a_deleted_group_serves_nothing() -> None:
    views = [sandbox_view(_member("pr-a", KEY, [_url("web", KEY)]))]
    deleting = _group("pr-42", {"pr": "42"})
    from dataclasses import replace

    hosts = gateway.preview_hosts(views, [replace(deleting, deleting=True)])
    assert all(h.group is None for h in hosts)
