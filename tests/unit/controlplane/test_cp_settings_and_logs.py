"""Settings refuse unsafe production defaults; logs are JSON lines that never carry tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from sandboxmesh import logs
from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.metrics_access import MetricsAccess, MetricsGate, UnusableTokenFile
from sandboxmesh.controlplane.settings import (
    AgentSettings,
    DatabaseSettings,
    Environment,
    MetricsSettings,
)


def test_production_needs_an_explicit_database() -> None:
    with pytest.raises(ValidationError, match="explicit database URL"):
        Settings(environment=Environment.PRODUCTION)
    Settings(
        environment=Environment.PRODUCTION,
        database=DatabaseSettings(url="postgresql://db/sandboxmesh"),
        public_url="https://sandboxmesh.example.com",
    )


def test_production_refuses_a_stale_threshold_below_the_long_poll() -> None:
    with pytest.raises(ValidationError, match="stale_after_seconds"):
        Settings(
            environment=Environment.PRODUCTION,
            database=DatabaseSettings(url="postgresql://db/sandboxmesh"),
            agent=AgentSettings(long_poll_max_seconds=60, stale_after_seconds=30),
        )


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOXMESH_DATABASE__URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("SANDBOXMESH_AGENT__LONG_POLL_MAX_SECONDS", "12")
    settings = Settings()
    assert settings.database.resolved_url() == "sqlite:////tmp/x.db"
    assert settings.agent.long_poll_max_seconds == 12


def test_the_default_store_is_sqlite_in_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOXMESH_HOME", str(tmp_path))
    assert Settings().database_path() == tmp_path / "controlplane.db"


async def test_access_logs_are_json_and_carry_no_token(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    logs.configure("INFO", json=True)
    app = create_app(Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path}/cp.db")))
    secret = "smu_0123abcd_thisisnotarealtokenbutlookslikeone"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as http,
    ):
        response = await http.get(
            "/api/v1/teams?x=1", headers={"Authorization": f"Bearer {secret}"}
        )
    assert response.status_code == 401
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    access = [r for r in records if r.get("logger") == "sandboxmesh.access"]
    assert access, lines
    assert access[-1]["route"] == "/api/v1/teams"
    assert access[-1]["status"] == 401
    assert {"time", "level", "duration_ms", "method"} <= set(access[-1])
    assert all(secret not in line for line in lines)


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        (
            "/portal/invitations/smi_0a1b2c3d_Zm9vYmFyYmF6cXV4LXRoaXMtaXMtc2VjcmV0",
            "/portal/invitations/smi_0a1b2c3d_[redacted]",
        ),
        ("/portal/verify/smv_00ff00ff_abc-DEF_123", "/portal/verify/smv_00ff00ff_[redacted]"),
        ("Bearer smu_12345678_s3cr3t and smc_87654321_t0ken", "Bearer smu_12345678_[redacted] "
         "and smc_87654321_[redacted]"),
        ("/cb?code=abc&state=1&api_key=xyz", "/cb?code=[redacted]&state=1&api_key=[redacted]"),
        ("/login?next=/portal/sandboxes", "/login?next=/portal/sandboxes"),
    ],
)  # fmt: skip
def test_one_redaction_drops_every_secret_and_keeps_the_rest(logged: str, shown: str) -> None:
    assert logs.redact(logged) == shown


async def test_secrets_in_paths_never_reach_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    logs.configure("INFO", json=True)
    app = create_app(Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path}/cp.db")))
    secrets = [
        "smi_0123abcd_thisisaninvitationsecretthatmustnotleak",
        "smv_4567cdef_thisisaverificationsecretthatmustnotleak",
    ]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as http,
    ):
        await http.get(f"/portal/invitations/{secrets[0]}")
        await http.get(f"/portal/verify/{secrets[1]}?token={secrets[1]}")
        await http.get(f"/portal/login?next=/portal/invitations/{secrets[0]}")
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    paths = [json.loads(line).get("path") for line in lines]
    assert "/portal/invitations/smi_0123abcd_[redacted]" in paths
    assert "/portal/verify/smv_4567cdef_[redacted]" in paths
    for secret in secrets:
        assert all(secret.rsplit("_", 1)[1] not in line for line in lines), secret


def test_a_traceback_is_redacted_too(
    capfd: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    logs.configure("INFO", json=False)
    try:
        raise RuntimeError("while opening /portal/invitations/smi_0123abcd_topsecretvalue")
    except RuntimeError:
        logging.getLogger("test").exception("failed for smu_0123abcd_anothersecret")
    err = capfd.readouterr().err
    assert "topsecretvalue" not in err
    assert "anothersecret" not in err
    assert "RuntimeError" in err
    assert "smi_0123abcd_[redacted]" in err


def test_metrics_settings_refuse_what_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="token_file"):
        MetricsSettings(token_file=tmp_path / "missing")
    token_file = tmp_path / "token"
    token_file.write_text("t0k3n\n")
    with pytest.raises(ValidationError, match="exclusive"):
        MetricsSettings(token_file=token_file, public=True)
    token_file.write_text("\n")
    with pytest.raises(UnusableTokenFile, match="is empty"):
        MetricsGate.from_settings(MetricsSettings(token_file=token_file), Environment.PRODUCTION)


def test_metrics_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t0k3n\n")
    monkeypatch.setenv("SANDBOXMESH_METRICS__TOKEN_FILE", str(token_file))
    gate = MetricsGate.from_settings(Settings().metrics, Environment.DEVELOPMENT)
    assert (gate.access, gate.token) == (MetricsAccess.BEARER, "t0k3n")
