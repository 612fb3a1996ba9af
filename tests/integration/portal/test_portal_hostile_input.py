"""Input no form should take: a 422 with the problem next to its field, never a 500, and
nothing written."""

from __future__ import annotations

from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    field_error,
    register_cluster,
    text,
)
from tests.support import snapshots

from sandboxmesh.controlplane.domain.plans import DEFAULT_ORG_LIMIT, Plan
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store import tables
from sandboxmesh.spec.sandbox import MAX_TTL_DAYS

MANIFEST = """\
name: pr-7
spec:
  cluster: staging
  ttl: {{duration: {ttl}}}
  forks:
    - forkOf: {{kind: Deployment, namespace: shop, name: checkout}}
"""

LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


async def test_a_ttl_no_date_can_hold_is_refused_next_to_its_field(
    owner: Portal, runtime: Runtime
) -> None:
    await register_cluster(owner)
    before = await snapshots.all_rows(runtime)
    for ttl in ("2932896d", f"{MAX_TTL_DAYS + 1}d"):
        refused = await create_sandbox(owner, name="pr-7", ttl=ttl)
        assert refused.status_code == 422
        assert field_error(refused.text, "ttl") == f"A ttl must be at most {MAX_TTL_DAYS}d."
        pasted = await owner.submit(
            "/new/sandbox", "/new/sandbox/yaml", {"manifest": MANIFEST.format(ttl=ttl)}
        )
        assert pasted.status_code == 422
        assert f"spec.ttl.duration: A ttl must be at most {MAX_TTL_DAYS}d." in (
            field_error(pasted.text, "manifest") or ""
        )
    assert await snapshots.all_rows(runtime) == before
    longest = await create_sandbox(owner, name="pr-7", ttl=f"{MAX_TTL_DAYS}d")
    assert longest.status_code == 303


async def test_yaml_nested_too_deep_or_with_aliases_is_refused(
    owner: Portal, runtime: Runtime
) -> None:
    await register_cluster(owner)
    before = await snapshots.all_rows(runtime)
    # 30,000 levels: a RecursionError in PyYAML's composer, a 500 before.
    for manifest, problem in (
        ("name: pr-7\nspec: " + "[" * 30_000, "not valid YAML (line 2)"),
        ("name: pr-7\nspec:\n  labels: " + "{a: " * 40 + "b" + "}" * 40, "nested deeper"),
        (LAUGHS, "anchors and aliases"),
    ):
        refused = await owner.submit("/new/sandbox", "/new/sandbox/yaml", {"manifest": manifest})
        assert refused.status_code == 422
        assert problem in (field_error(refused.text, "manifest") or "")
    assert await snapshots.all_rows(runtime) == before


async def test_a_stored_time_that_cannot_be_shown_does_not_break_a_page(
    owner: Portal, runtime: Runtime
) -> None:
    await register_cluster(owner)
    assert (await create_sandbox(owner, name="pr-1")).status_code == 303
    # Written around the API, as reports could be before they were checked.
    unshowable = "0001-01-01T00:00:00+23:59"
    status = {
        "phase": "Ready",
        "ready": True,
        "reason": "Ready",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": unshowable}
        ],
    }
    async with runtime.unit_of_work() as tx:
        await tx.conn.execute(
            tables.sandboxes.update()
            .where(tables.sandboxes.c.name == "pr-1")
            .values(status=status, phase="Ready")
        )
    for path in ("/sandboxes/pr-1", "/sandboxes/pr-1/status", "/sandboxes", "/sandboxes/_rows"):
        shown = await owner.get(path)
        assert shown.status_code == 200, path
    assert unshowable in text((await owner.get("/sandboxes/pr-1")).text)


async def test_the_quotas_page_keeps_the_organisation_limit_within_the_plan(
    owner: Portal, runtime: Runtime
) -> None:
    ceiling = DEFAULT_ORG_LIMIT[Plan.FREE]  # sign-up gives the free plan
    page = text((await owner.get("/quotas")).text)
    assert f"The free plan allows up to {ceiling}." in page
    before = await snapshots.all_rows(runtime)
    too_many = str(ceiling + 1)
    refused = await owner.submit("/quotas", "/quotas/organization", {"max_sandboxes": too_many})
    assert refused.status_code == 422
    assert f"The free plan allows at most {ceiling} sandboxes" in text(refused.text)
    assert f'value="{too_many}"' in refused.text  # what was typed stays, next to the reason
    assert await snapshots.all_rows(runtime) == before
    saved = await owner.submit("/quotas", "/quotas/organization", {"max_sandboxes": str(ceiling)})
    assert "Organisation limit saved." in text((await owner.follow(saved)).text)
