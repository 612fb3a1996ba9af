"""The sandbox spec accepts what DESIGN.md §2 allows and names the field of anything else."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from sandboxmesh.spec import EnvOperation, SandboxManifest, TtlOffset
from sandboxmesh.spec.names import duration_seconds
from sandboxmesh.spec.sandbox import MAX_TTL_DAYS

DESIGN_EXAMPLE = """
name: pr-42-checkout
spec:
  cluster: staging
  team: payments
  description: "PR #42"
  labels: {pr: "42"}
  ttl: {duration: 4h, offsetFrom: createdAt}
  forks:
    - forkOf: {kind: Deployment, namespace: shop, name: checkout}
      customizations:
        images: [{container: app, image: registry.example.com/checkout:pr-42}]
        env:    [{container: app, name: FEATURE_X, value: "on"}]
"""


def _manifest(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cluster": "staging",
        "forks": [{"forkOf": {"namespace": "shop", "name": "checkout"}}],
    }
    return {"name": "pr-1", "spec": {**base, **spec}}


def _error_locations(document: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        SandboxManifest.model_validate(document)
    return [error["loc"] for error in caught.value.errors()]


def test_the_design_example_parses() -> None:
    manifest = SandboxManifest.model_validate(yaml.safe_load(DESIGN_EXAMPLE))
    assert manifest.name == "pr-42-checkout"
    fork = manifest.spec.forks[0]
    assert str(fork.fork_of) == "Deployment/shop/checkout"
    assert fork.customizations.images[0].image == "registry.example.com/checkout:pr-42"
    assert fork.customizations.env[0].operation is EnvOperation.UPSERT
    assert manifest.spec.ttl is not None
    assert manifest.spec.ttl.seconds == 4 * 3600
    assert manifest.spec.ttl.offset_from is TtlOffset.CREATED_AT


def test_round_trip_uses_camel_case() -> None:
    manifest = SandboxManifest.model_validate(yaml.safe_load(DESIGN_EXAMPLE))
    dumped = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["spec"]["forks"][0]["forkOf"]["name"] == "checkout"
    assert dumped["spec"]["ttl"]["offsetFrom"] == "createdAt"
    assert SandboxManifest.model_validate(dumped) == manifest


@pytest.mark.parametrize(
    "name", ["", "Upper", "under_score", "-leading", "trailing-", "a" * 41, "dot.ted"]
)
def test_names_that_are_not_short_dns_labels_are_refused(name: str) -> None:
    document = _manifest()
    document["name"] = name
    assert ("name",) in _error_locations(document)


def test_a_forty_character_name_is_fine() -> None:
    document = _manifest()
    document["name"] = "a" * 40
    assert SandboxManifest.model_validate(document).name == "a" * 40


def test_unknown_fields_are_refused_with_their_location() -> None:
    document = _manifest()
    document["spec"]["forks"][0]["forkof"] = {}
    assert ("spec", "forks", 0, "forkof") in _error_locations(document)


def test_a_baseline_in_two_forks_is_refused() -> None:
    fork = {"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"}}
    locations = _error_locations(_manifest(forks=[fork, fork]))
    assert locations == [("spec",)]


def test_at_least_one_fork() -> None:
    assert ("spec", "forks") in _error_locations(_manifest(forks=[]))


@pytest.mark.parametrize(
    ("env", "ok"),
    [
        ({"container": "app", "name": "X", "value": "1"}, True),
        ({"container": "app", "name": "X", "operation": "delete"}, True),
        ({"container": "app", "name": "X"}, False),
        ({"container": "app", "name": "X", "value": "1", "operation": "delete"}, False),
        ({"container": "app", "name": "1X=", "value": "1"}, False),
        ({"container": "app", "name": "X", "value": "1", "operation": "merge"}, False),
        # The container may be left out (the operator takes the Pod's only one).
        ({"name": "X", "value": "1"}, True),
        ({"container": "App_1", "name": "X", "value": "1"}, False),
    ],
)
def test_env_customizations(env: dict[str, Any], ok: bool) -> None:
    document = _manifest(
        forks=[
            {"forkOf": {"namespace": "shop", "name": "checkout"}, "customizations": {"env": [env]}}
        ]
    )
    if ok:
        SandboxManifest.model_validate(document)
    else:
        assert _error_locations(document)


@pytest.mark.parametrize(
    ("text", "seconds"), [("4h", 14400), ("1h30m", 5400), ("90s", 90), ("2d", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "4", "h", "4x", "1m4h", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(text)


def test_ttl_below_a_minute_is_refused() -> None:
    assert ("spec", "ttl", "duration") in _error_locations(_manifest(ttl={"duration": "30s"}))


@pytest.mark.parametrize("duration", ["366d", "365d1s", "2932896d", "9" * 31 + "d"])
def test_a_ttl_beyond_the_maximum_is_refused(duration: str) -> None:
    # 2932896d ends after year 9999: no date holds it (an OverflowError, a 500, before).
    document = _manifest(ttl={"duration": duration})
    assert ("spec", "ttl", "duration") in _error_locations(document)


def test_the_longest_ttl_is_the_documented_maximum() -> None:
    manifest = SandboxManifest.model_validate(_manifest(ttl={"duration": f"{MAX_TTL_DAYS}d"}))
    assert manifest.spec.ttl is not None
    assert manifest.spec.ttl.seconds == MAX_TTL_DAYS * 86400


@pytest.mark.parametrize("labels", [{"bad key": "x"}, {"k": "has space"}, {"k": "x" * 64}])
def test_bad_labels(labels: dict[str, str]) -> None:
    assert any(loc[:2] == ("spec", "labels") for loc in _error_locations(_manifest(labels=labels)))
