"""Sandbox-hours per team per day: lifetimes cut at UTC midnights, clipped to the month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sandboxmesh.controlplane.domain import metering
from sandboxmesh.controlplane.domain.usage_by_day import daily_usage


def at(day: int, hour: float = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC) + timedelta(hours=hour)


def life(team: str, start: datetime, end: datetime | None) -> metering.Lifetime:
    return metering.Lifetime(team=team, sandbox="s", started_at=start, ended_at=end)


NOW = at(20)


def test_the_month_has_one_entry_per_day() -> None:
    usage = daily_usage([], month="2026-02", now=NOW)
    assert len(usage.days) == 28
    assert usage.days[0] == date(2026, 2, 1)
    assert usage.teams == ()
    assert usage.day_totals() == (0.0,) * 28


def test_a_lifetime_across_midnights_is_split_per_day() -> None:
    usage = daily_usage([life("pay", at(3, 22), at(5, 6))], month="2026-03", now=NOW)
    (team,) = usage.teams
    assert team.team == "pay"
    assert team.hours[1:6] == (0.0, 2.0, 24.0, 6.0, 0.0)
    assert team.total == 32.0


def test_open_lifetimes_run_to_now_and_teams_add_up_per_day() -> None:
    usage = daily_usage(
        [
            life("pay", at(19, 12), None),
            life("web", at(19, 18), at(20, 0)),
            life("pay", at(1), at(1, 1)),
        ],
        month="2026-03",
        now=at(19, 20),
    )
    assert [t.team for t in usage.teams] == ["pay", "web"]
    pay, web = usage.teams
    assert pay.hours[18] == 8.0
    assert pay.hours[0] == 1.0
    assert web.hours[18] == 2.0
    assert usage.day_totals()[18] == 10.0
    assert sum(pay.hours[19:]) == 0.0


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (at(28, 12, month=2), at(1, 12), 12.0),  # begins the month before: only March counts
        (at(31, 12), at(1, 12, month=4), 12.0),  # ends the month after
    ],
)
def test_lifetimes_are_clipped_to_the_month(
    start: datetime, end: datetime, expected: float
) -> None:
    usage = daily_usage([life("pay", start, end)], month="2026-03", now=at(2, month=4))
    assert usage.teams[0].total == expected


def test_daily_totals_agree_with_the_statement() -> None:
    lifetimes = [life("pay", at(2, 5), at(9, 17)), life("web", at(4, 1), None)]
    usage = daily_usage(lifetimes, month="2026-03", now=NOW)
    statement = metering.statement(lifetimes, month="2026-03", now=NOW)
    assert {t.team: t.total for t in usage.teams} == {t.team: t.hours for t in statement.teams}
