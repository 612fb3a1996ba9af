"""The portal's pure parts: chart geometry, the sandbox form <-> manifest mapping, CSRF
tokens, sealed one-time values, what a role may do, where log-in may send people."""

from __future__ import annotations

from datetime import date

import pytest

from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.domain.usage_by_day import DailyUsage, TeamDays
from sandboxmesh.controlplane.portal import charts, csrf, onetime, sandbox_forms
from sandboxmesh.controlplane.portal.abilities import Abilities
from sandboxmesh.controlplane.portal.context import safe_next
from sandboxmesh.spec import SandboxManifest

DAYS = tuple(date(2026, 3, d) for d in range(1, 32))


def usage(**teams: list[float]) -> DailyUsage:
    return DailyUsage(
        month="2026-03",
        days=DAYS,
        teams=tuple(
            TeamDays(team, tuple(hours + [0.0] * (31 - len(hours))))
            for team, hours in teams.items()
        ),
    )


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1.0), (0.3, 0.5), (1, 1.0), (1.2, 2.0), (2.2, 2.5), (7, 10.0), (48, 50.0), (101, 200.0)],
)
def test_the_axis_ends_at_a_round_number(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == ceiling


def test_bars_stack_per_day_in_team_order_and_fit_the_plot() -> None:
    chart = charts.stacked_bars(usage(pay=[4.0, 0.0, 2.0], web=[6.0]))
    assert [bar.label for bar in chart.bars] == [
        "pay, 2026-03-01: 4.00 sandbox-hours",
        "web, 2026-03-01: 6.00 sandbox-hours",
        "pay, 2026-03-03: 2.00 sandbox-hours",
    ]
    pay, web, later = chart.bars
    # 10 hours fill the plot exactly; web sits on top of pay.
    assert pay.y + pay.height == pytest.approx(chart.plot_bottom)
    assert web.y + web.height == pytest.approx(pay.y)
    assert web.y == pytest.approx(chart.plot_top)
    assert later.x > pay.x
    assert all(chart.plot_left <= b.x and b.x + b.width <= chart.plot_right for b in chart.bars)
    assert [t.label for t in chart.ticks] == ["0", "2.5", "5", "7.5", "10"]
    assert [s.team for s in chart.series] == ["pay", "web"]
    assert pay.colour != web.colour
    assert [d.label for d in chart.days] == ["1", "5", "10", "15", "20", "25", "30", "31"]


def test_a_month_without_usage_is_an_empty_chart_one_hour_high() -> None:
    chart = charts.stacked_bars(usage())
    assert chart.empty
    assert chart.ticks[-1].label == "1"


FORM = {
    "name": "pr-1",
    "cluster": "staging",
    "team": "payments",
    "description": "PR 1",
    "namespace": "shop",
    "deployment": "checkout",
    "container": "app",
    "image": "example/checkout:pr-1",
    "env": "FEATURE_X=on\n\nEMPTY=\n",
    "ttl": "4h",
}


def test_the_form_becomes_the_manifest_users_write() -> None:
    document, problems = sandbox_forms.manifest_from(FORM)
    assert problems == {}
    manifest = SandboxManifest.model_validate(document)
    assert manifest.spec.team == "payments"
    assert manifest.spec.ttl is not None
    assert manifest.spec.ttl.seconds == 4 * 3600
    (fork,) = manifest.spec.forks
    assert str(fork.fork_of) == "Deployment/shop/checkout"
    assert [(e.name, e.value) for e in fork.customizations.env] == [
        ("FEATURE_X", "on"),
        ("EMPTY", ""),
    ]
    assert fork.customizations.images[0].image == "example/checkout:pr-1"


def test_optional_fields_stay_out_of_the_manifest() -> None:
    document, _ = sandbox_forms.manifest_from(
        {**FORM, "team": "", "ttl": "", "image": "", "env": ""}
    )
    assert document is not None
    assert "team" not in document["spec"]
    assert "ttl" not in document["spec"]
    assert document["spec"]["forks"][0]["customizations"] == {"env": []}


def test_an_env_line_without_equals_is_refused_with_its_line_number() -> None:
    assert sandbox_forms.manifest_from({**FORM, "env": "A=1\nB"}) == (
        None,
        {"env": "Line 2: write one NAME=value per line."},
    )


@pytest.mark.parametrize(
    ("location", "field"),
    [
        (("name",), "name"),
        (("spec", "cluster"), "cluster"),
        (("spec", "ttl", "duration"), "ttl"),
        (("spec", "forks", 0, "forkOf", "namespace"), "namespace"),
        (("spec", "forks", 0, "forkOf", "name"), "deployment"),
        (("spec", "forks", 0, "customizations", "images", 0, "image"), "image"),
        (("spec", "forks", 0, "customizations", "images", 0, "container"), "container"),
        (("spec", "forks", 0, "customizations", "env", 1, "name"), "env"),
        (("spec", "forks"), "namespace"),
        (("spec", "labels"), "__all__"),
    ],
)
def test_manifest_errors_land_on_their_form_field(
    location: tuple[int | str, ...], field: str
) -> None:
    assert sandbox_forms.field_of(location) == field
    assert sandbox_forms.api_field_of(["body", *location]) == field


def test_yaml_problems_name_their_line() -> None:
    assert sandbox_forms.parse_yaml("name: [x\n") == (None, "This is not valid YAML (line 2).")
    assert sandbox_forms.parse_yaml("  ")[1] == "Paste a sandbox manifest: name and spec."
    example, problem = sandbox_forms.parse_yaml(sandbox_forms.yaml_example("staging", "pay"))
    assert problem is None
    SandboxManifest.model_validate(example)


def test_csrf_tokens_follow_the_session_and_compare_exactly() -> None:
    token = csrf.for_session("session-a")
    assert token == csrf.for_session("session-a")
    assert token != csrf.for_session("session-b")
    assert csrf.matches(token, token)
    assert not csrf.matches(token, token[:-1])
    assert not csrf.matches(token, None)
    assert not csrf.matches(None, token)
    assert csrf.new_anonymous() != csrf.new_anonymous()


def test_one_time_values_open_only_with_their_session() -> None:
    sealed = onetime.seal("session-a", onetime.OneTime(notice="hi", secret={"token": "smc_x"}))
    assert "smc_x" not in sealed
    assert onetime.unseal("session-a", sealed) == onetime.OneTime("hi", {"token": "smc_x"})
    assert onetime.unseal("session-b", sealed) is None
    assert onetime.unseal("session-a", sealed[:-2]) is None


@pytest.mark.parametrize(
    ("role", "teams", "manage", "create", "write_pay"),
    [
        (Role.OWNER, set(), True, True, True),
        (Role.ADMIN, set(), True, True, True),
        (Role.MEMBER, {"pay"}, False, True, True),
        (Role.MEMBER, {"web"}, False, True, False),
        (Role.MEMBER, set(), False, False, False),
        (Role.VIEWER, {"pay"}, False, False, False),
    ],
)
def test_abilities_follow_the_roles(
    role: Role, teams: set[str], manage: bool, create: bool, write_pay: bool
) -> None:
    can = Abilities(role, frozenset(teams))
    assert can.manage is manage
    assert can.create_sandboxes is create
    assert can.write_sandboxes("pay") is write_pay
    assert (Role.OWNER in can.grantable()) is (role is Role.OWNER)
    assert can.change_member(Role.OWNER) is (role is Role.OWNER)


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        ("/portal/usage?month=2026-01", "/portal/usage?month=2026-01"),
        (None, "/portal/sandboxes"),
        ("https://evil.example/", "/portal/sandboxes"),
        ("//evil.example/portal/", "/portal/sandboxes"),
        ("/portal/\\evil", "/portal/sandboxes"),
        ("/api/v1/tokens", "/portal/sandboxes"),
    ],
)
def test_log_in_only_returns_to_a_portal_page(asked: str | None, sent: str) -> None:
    assert safe_next(asked) == sent
