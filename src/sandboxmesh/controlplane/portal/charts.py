"""The usage chart's geometry: stacked bars of sandbox-hours per team per day. Pure.

The page draws it as inline SVG (no chart library, no script): this module only computes
where every bar, tick and label goes, in the coordinates of the SVG's viewBox.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandboxmesh.controlplane.domain.usage_by_day import DailyUsage

WIDTH = 960
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
#: Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Series:
    team: str
    colour: str
    total: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    days: tuple[DayLabel, ...]
    series: tuple[Series, ...]

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value - 1e-9:
            return float(step * power)
    return float(10 * power)


def _format(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def stacked_bars(usage: DailyUsage, *, tick_count: int = 4) -> BarChart:
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    days = len(usage.days)
    band = plot_width / max(days, 1)
    # At least one hour high: a few minutes of use should look small, not fill the chart.
    top_value = nice_ceiling(max((*usage.day_totals(), 1.0)))
    scale = plot_height / top_value
    series = tuple(
        Series(team.team, PALETTE[index % len(PALETTE)], team.total)
        for index, team in enumerate(usage.teams)
    )
    bars: list[Bar] = []
    for index, day in enumerate(usage.days):
        stacked = 0.0
        for team, drawn in zip(usage.teams, series, strict=True):
            hours = team.hours[index]
            if hours <= 0:
                continue
            height = hours * scale
            bars.append(
                Bar(
                    x=round(LEFT + index * band + band * 0.15, 2),
                    y=round(bottom - stacked - height, 2),
                    width=round(band * 0.7, 2),
                    height=round(max(height, 0.5), 2),
                    colour=drawn.colour,
                    label=f"{team.team}, {day.isoformat()}: {hours:.2f} sandbox-hours",
                )
            )
            stacked += height
    ticks = tuple(
        Tick(y=round(bottom - plot_height * step / tick_count, 2),
             label=_format(top_value * step / tick_count))
        for step in range(tick_count + 1)
    )  # fmt: skip
    labelled = {0, days - 1} | {i for i in range(days) if (i + 1) % 5 == 0}
    day_labels = tuple(
        DayLabel(x=round(LEFT + i * band + band / 2, 2), label=str(usage.days[i].day))
        for i in sorted(labelled)
        if 0 <= i < days
    )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=bottom,
        bars=tuple(bars),
        ticks=ticks,
        days=day_labels,
        series=series,
    )
