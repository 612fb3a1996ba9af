"""Metering and usage statements: sandbox-hours per team and month, as JSON and CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.support.controlplane import Clock, Org, manifest, register_cluster

from sandboxmesh.client import endpoints, errors
from sandboxmesh.controlplane.domain import metering


async def test_sandbox_hours_run_from_create_to_delete(acme: Org, clock: Clock) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.create_team("payments"))
    await acme.client.send(endpoints.apply_sandbox(manifest("a")))
    await acme.client.send(endpoints.apply_sandbox(manifest("b", team="payments")))
    clock.advance(hours=2)
    await acme.client.send(endpoints.delete_sandbox("a"))
    clock.advance(hours=1)
    month = metering.month_of(clock())
    statement = await acme.client.send(endpoints.usage(month=month))
    assert statement.organization == "acme"
    by_team = {t.team: t for t in statement.teams}
    # A month boundary in the three hours would split them; the test clock may straddle one.
    if metering.month_of(clock()) == metering.month_of(clock() - timedelta(hours=3)):
        assert by_team["default"].sandbox_hours == pytest.approx(2, abs=0.01)
        assert by_team["payments"].sandbox_hours == pytest.approx(3, abs=0.01)
        assert statement.total_sandbox_hours == pytest.approx(5, abs=0.02)
    assert by_team["default"].sandboxes == 1
    lines = {line.sandbox: line for line in statement.lines}
    assert lines["a"].ended_at is not None
    assert lines["b"].ended_at is None

    only = await acme.client.send(endpoints.usage(month=month, team="payments"))
    assert [t.team for t in only.teams] == ["payments"]
    csv = await acme.client.send(endpoints.usage_csv(month=month))
    rows = csv.strip().splitlines()
    assert rows[0] == "month,team,sandboxes,sandbox_hours"
    assert rows[1].startswith(f"{month},default,1,")
    assert rows[2].startswith(f"{month},payments,1,")


async def test_usage_outlives_the_sandbox_and_its_team(
    acme: Org, clock: Clock, agent_client: object
) -> None:
    from sandboxmesh.spec.protocol import GoneConfirmation, StatusReportBatch

    agent = agent_client(await register_cluster(acme))  # type: ignore[operator]
    await acme.client.send(endpoints.create_team("temp"))
    await acme.client.send(endpoints.apply_sandbox(manifest("t", team="temp")))
    clock.advance(minutes=30)
    await acme.client.send(endpoints.delete_sandbox("t"))
    await agent.send(endpoints.report_status(StatusReportBatch(gone=[GoneConfirmation(name="t")])))
    await acme.client.send(endpoints.delete_team("temp"))
    month = metering.month_of(clock())
    statement = await acme.client.send(endpoints.usage(month=month, team="temp"))
    assert statement.teams[0].team == "temp"


async def test_bad_months_and_teams_are_refused(acme: Org) -> None:
    with pytest.raises(errors.Invalid):
        await acme.client.send(endpoints.usage(month="2026-13"))
    with pytest.raises(errors.NotFound):
        await acme.client.send(endpoints.usage(team="nobody"))
    empty = await acme.client.send(endpoints.usage(month="1999-01"))
    assert (empty.teams, empty.total_sandbox_hours) == ([], 0)
