"""/metrics: open in development, closed in production unless a token file (or, explicitly,
public access) is configured."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.settings import (
    DatabaseSettings,
    Environment,
    MetricsSettings,
    SweeperSettings,
)

TOKEN = "scrape-me-3b8f0c"


async def _scrape(
    database_url: str, environment: Environment, metrics: MetricsSettings, **headers: str
) -> httpx.Response:
    settings = Settings(
        environment=environment,
        database=DatabaseSettings(url=database_url),
        sweeper=SweeperSettings(interval_seconds=3600),
        metrics=metrics,
        public_url="https://cp.example.com",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
            return await http.get("/metrics", headers=headers)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "metrics-token"
    path.write_text(TOKEN + "\n")
    return path


def _is_exposition(response: httpx.Response) -> bool:
    return response.status_code == 200 and "sandboxmesh_http_requests" in response.text


async def test_development_serves_metrics_to_anyone(database_url: str) -> None:
    response = await _scrape(database_url, Environment.DEVELOPMENT, MetricsSettings())
    assert _is_exposition(response)


async def test_production_closes_metrics_unless_told_otherwise(database_url: str) -> None:
    closed = await _scrape(database_url, Environment.PRODUCTION, MetricsSettings())
    assert closed.status_code == 403
    assert closed.json()["code"] == "forbidden"
    assert "SANDBOXMESH_METRICS__TOKEN_FILE" in closed.json()["message"]
    assert "sandboxmesh_" not in closed.text
    public = await _scrape(database_url, Environment.PRODUCTION, MetricsSettings(public=True))
    assert _is_exposition(public)


@pytest.mark.parametrize("environment", list(Environment))
async def test_a_token_file_asks_every_scrape_for_its_token(
    database_url: str, token_file: Path, environment: Environment
) -> None:
    metrics = MetricsSettings(token_file=token_file)
    for refused in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        response = await _scrape(database_url, environment, metrics, **refused)
        assert response.status_code == 401, refused
        assert response.json()["code"] == "unauthorized"
        assert "sandboxmesh_" not in response.text
    allowed = await _scrape(database_url, environment, metrics, Authorization=f"Bearer {TOKEN}")
    assert _is_exposition(allowed)
