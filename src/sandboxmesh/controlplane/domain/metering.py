"""Metering: sandbox-hours per team and calendar month (UTC), from lifetimes.

A sandbox is metered from the request that created it to the request that deleted it (or
its TTL expiry); an open interval runs to `now`. Pure: the store hands in the intervals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class Lifetime:
    team: str
    sandbox: str
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class Line:
    team: str
    sandbox: str
    started_at: datetime
    ended_at: datetime | None
    hours: float


@dataclass(frozen=True)
class TeamTotal:
    team: str
    sandboxes: int
    hours: float


@dataclass(frozen=True)
class Statement:
    month: str
    teams: list[TeamTotal]
    lines: list[Line]

    @property
    def total_hours(self) -> float:
        return round(sum(t.hours for t in self.teams), 4)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a `YYYY-MM` month in UTC; ValueError when it does not parse."""
    if not re.fullmatch(MONTH_PATTERN, month):
        raise ValueError(f"not a month: {month!r} (use YYYY-MM)")
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def statement(lifetimes: Iterable[Lifetime], *, month: str, now: datetime) -> Statement:
    start, end = month_bounds(month)
    lines: list[Line] = []
    for life in lifetimes:
        stop = min(life.ended_at or now, now, end)
        begin = max(life.started_at, start)
        if stop <= begin:
            continue
        hours = (stop - begin).total_seconds() / 3600
        lines.append(Line(life.team, life.sandbox, life.started_at, life.ended_at, hours))
    lines.sort(key=lambda line: (line.team, line.sandbox, line.started_at))
    totals: dict[str, list[float]] = {}
    for line in lines:
        totals.setdefault(line.team, []).append(line.hours)
    teams = [
        TeamTotal(team=team, sandboxes=len(hours), hours=round(sum(hours), 4))
        for team, hours in sorted(totals.items())
    ]
    rounded = [
        Line(line.team, line.sandbox, line.started_at, line.ended_at, round(line.hours, 4))
        for line in lines
    ]
    return Statement(month=month, teams=teams, lines=rounded)


def statement_csv(statement: Statement) -> str:
    """One row per team: month,team,sandboxes,sandbox_hours."""
    rows = ["month,team,sandboxes,sandbox_hours"]
    rows += [f"{statement.month},{t.team},{t.sandboxes},{t.hours:.4f}" for t in statement.teams]
    return "\n".join(rows) + "\n"
