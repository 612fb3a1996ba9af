"""Sandbox-hours per team per UTC day of a month, from the same lifetimes as the statement.

Pure, like `metering`: a lifetime is cut at midnights (UTC) and each piece counted on its day;
an open lifetime runs to `now`. Days after `now` have no usage, days without any have zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sandboxmesh.controlplane.domain import metering


@dataclass(frozen=True)
class TeamDays:
    """One team's hours on each day of the month, in day order."""

    team: str
    hours: tuple[float, ...]

    @property
    def total(self) -> float:
        return round(sum(self.hours), 4)


@dataclass(frozen=True)
class DailyUsage:
    month: str
    days: tuple[date, ...]
    teams: tuple[TeamDays, ...]

    def day_totals(self) -> tuple[float, ...]:
        return tuple(
            round(sum(team.hours[index] for team in self.teams), 4)
            for index in range(len(self.days))
        )


def daily_usage(lifetimes: Iterable[metering.Lifetime], *, month: str, now: datetime) -> DailyUsage:
    start, end = metering.month_bounds(month)
    days = tuple((start + timedelta(days=offset)).date() for offset in range((end - start).days))
    per_team: dict[str, list[float]] = {}
    for life in lifetimes:
        begin = max(life.started_at, start)
        stop = min(life.ended_at or now, now, end)
        if stop <= begin:
            continue
        hours = per_team.setdefault(life.team, [0.0] * len(days))
        cursor = begin.astimezone(UTC)
        while cursor < stop:
            midnight = datetime.combine(cursor.date() + timedelta(days=1), time(), tzinfo=UTC)
            piece_end = min(stop, midnight)
            hours[(cursor - start).days] += (piece_end - cursor).total_seconds() / 3600
            cursor = piece_end
    teams = tuple(
        TeamDays(team=team, hours=tuple(round(h, 4) for h in hours))
        for team, hours in sorted(per_team.items())
    )
    return DailyUsage(month=month, days=days, teams=teams)
