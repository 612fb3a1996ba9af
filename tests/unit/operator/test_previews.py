"""A sandbox's preview URLs: from its endpoints, or from the Services its forks serve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from sandboxmesh.operator.forks import SandboxIdentity, desired_fork
from sandboxmesh.operator.previews import PreviewSettings, default_endpoints, preview_urls
from sandboxmesh.operator.status import ForkObservation, fork_status, sandbox_status
from sandboxmesh.spec import ConditionType, Fork, Reason, conditions
from sandboxmesh.spec.preview import Access, Endpoint, parse_preview_host
from sandboxmesh.spec.sandbox import SandboxManifest

KEY = "abcdefgh12345678"
SETTINGS = PreviewSettings(domain="preview.example.com")


def _baseline(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "1", "generation": 1},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "a"}]},
            }
        },
    }


def _service(name: str, selector: dict[str, str], ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": selector, "ports": [{"port": p, "targetPort": p} for p in ports]},
    }


def _fork_services(baseline_services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fork = Fork.model_validate({"forkOf": {"namespace": "shop", "name": "web"}})
    desired = desired_fork(
        SandboxIdentity("pr-1", "uid", KEY),
        fork,
        _baseline("web", {"app": "web"}),
        baseline_services,
    )
    return desired.services


def test_each_service_of_a_forked_workload_gets_a_url_on_its_first_port() -> None:
    services = [
        _service("frontend", {"app": "web"}, [80, 9090]),
        _service("frontend-admin", {"app": "web"}, [8081]),
        _service("other", {"app": "other"}, [80]),
    ]
    urls, problems = preview_urls(SETTINGS, KEY, None, _fork_services(services), {})
    assert problems == []
    assert [(u.name, u.url, u.service, u.port, u.access) for u in urls] == [
        (
            "frontend",
            f"https://frontend-{KEY}.preview.example.com/",
            "frontend",
            80,
            Access.AUTHENTICATED,
        ),
        (
            "frontend-admin",
            f"https://frontend-admin-{KEY}.preview.example.com/",
            "frontend-admin",
            8081,
            Access.AUTHENTICATED,
        ),
    ]
    # The host parses back to the endpoint and the key.
    host = urls[1].url.split("/")[2]
    assert parse_preview_host(host, "preview.example.com") == ("frontend-admin", KEY)


def test_a_routed_service_is_named_as_the_service_users_call() -> None:
    # Once a Service is routed, the operator forks its copy `<svc>-sandboxmesh-baseline`; the
    # URL goes to the Service users call.
    services = [_service("frontend-sandboxmesh-baseline", {"app": "web"}, [80])]
    [endpoint] = default_endpoints(_fork_services(services))
    assert (endpoint.name, endpoint.service) == ("frontend", "frontend")


def test_declared_endpoints_replace_the_default_and_take_the_services_port() -> None:
    declared = [
        Endpoint(name="shop", namespace="shop", service="gateway", access=Access.PUBLIC),
        Endpoint(name="api", namespace="shop", service="api", port=8443),
        Endpoint(name="gone", namespace="shop", service="missing"),
    ]
    services = {("shop", "gateway"): _service("gateway", {"app": "gw"}, [8080, 80])}
    settings = PreviewSettings(domain="preview.test", scheme="http", port=30080)
    urls, problems = preview_urls(settings, KEY, declared, [], services)
    assert [(u.name, u.url, u.port, u.access) for u in urls] == [
        ("shop", f"http://shop-{KEY}.preview.test:30080/", 8080, Access.PUBLIC),
        ("api", f"http://api-{KEY}.preview.test:30080/", 8443, Access.AUTHENTICATED),
    ]
    assert problems == [
        "endpoint gone: Service shop/missing does not exist or has no port; "
        "name its port, or fix the Service"
    ]


def test_the_schemes_own_port_is_left_out_of_the_url() -> None:
    assert PreviewSettings(domain="d.test", port=443).url("h.d.test") == "https://h.d.test/"
    assert PreviewSettings(domain="d.test", scheme="http", port=80).url("h") == "http://h/"
    assert PreviewSettings(domain="d.test", port=8443).url("h") == "https://h:8443/"


def test_without_a_domain_there_are_no_urls_and_no_condition() -> None:
    urls, problems = preview_urls(PreviewSettings(), KEY, None, [], {})
    assert (urls, problems) == ([], None)


def test_the_status_carries_urls_and_a_condition_naming_what_is_missing() -> None:
    fork = Fork.model_validate({"forkOf": {"namespace": "shop", "name": "web"}})
    desired = desired_fork(
        SandboxIdentity("pr-1", "uid", KEY), fork, _baseline("web", {"app": "web"}), []
    )
    observation = ForkObservation(fork, desired=desired)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    urls, _ = preview_urls(
        SETTINGS, KEY, None, _fork_services([_service("fe", {"app": "web"}, [80])]), {}
    )
    status = sandbox_status(
        generation=1,
        routing_key=KEY,
        forks=[fork_status(observation)],
        previous=None,
        now=now,
        previews=(urls, ["endpoint x: Service shop/x does not exist"]),
    )
    assert [u.name for u in status.preview_urls] == ["fe"]
    condition = conditions.find(status.conditions, ConditionType.PREVIEW_URLS)
    assert condition is not None
    assert (condition.status, condition.reason) == ("False", Reason.ENDPOINT_NOT_FOUND)
    assert "shop/x" in condition.message
    # A refresh of readiness (previews None) keeps the URLs and the condition as they were.
    again = sandbox_status(
        generation=1, routing_key=KEY, forks=status.forks, previous=status, now=now
    )
    assert again.preview_urls == status.preview_urls
    assert conditions.find(again.conditions, ConditionType.PREVIEW_URLS) == condition
    # Without a domain (problems None) no condition appears.
    plain = sandbox_status(
        generation=1,
        routing_key=KEY,
        forks=status.forks,
        previous=None,
        now=now,
        previews=([], None),
    )
    assert plain.preview_urls == []
    assert conditions.find(plain.conditions, ConditionType.PREVIEW_URLS) is None


@pytest.mark.parametrize(
    ("endpoints", "words"),
    [
        ([{"name": "a", "namespace": "s", "service": "x"}] * 2, "appears more than once"),
        ([{"name": "A", "namespace": "s", "service": "x"}], "should match pattern"),
        ([{"name": "a" * 47, "namespace": "s", "service": "x"}], "at most 46"),
        ([{"name": "a", "namespace": "s", "service": "x", "port": 0}], "greater than or equal"),
        ([{"name": "a", "namespace": "s", "service": "x", "access": "open"}], "public"),
    ],
)
def test_bad_endpoints_are_refused_with_words_that_say_why(
    endpoints: list[dict[str, Any]], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        SandboxManifest.model_validate(
            {
                "name": "pr-1",
                "spec": {
                    "cluster": "c",
                    "forks": [{"forkOf": {"namespace": "s", "name": "w"}}],
                    "endpoints": endpoints,
                },
            }
        )


@pytest.mark.parametrize(
    "host",
    [
        "preview.test",
        f"{KEY}.preview.test",  # no endpoint
        "web-short.preview.test",  # not a key
        f"web-{KEY}.other.test",
        f"web-{KEY}.evilpreview.test",
        f"a.web-{KEY}.preview.test",
        f"-web-{KEY}.preview.test",
    ],
)
def test_hosts_that_name_no_preview(host: str) -> None:
    assert parse_preview_host(host, "preview.test") is None
