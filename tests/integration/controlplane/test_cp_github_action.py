"""The composite GitHub Action (deploy/github-action/action.yml) cannot run here, so this test
runs what it runs: each step's script, from the parsed action.yml, with its `env` resolved as
GitHub would (inputs, the pull request's event), against a real control plane process, with
fake `$GITHUB_STEP_SUMMARY` and `$GITHUB_OUTPUT` files. An agent played by the test reports
the sandbox Ready with preview URLs; then the pull request closes, and the control plane's
webhook deletes the sandbox by the labels the action gave it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
import yaml
from tests.support.controlplane_server import served_store
from tests.support.eventually import eventually

from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.spec import Phase, SandboxStatus
from sandboxmesh.spec.protocol import SandboxStatusReport, StatusReportBatch

ACTION_DIR = Path(__file__).parents[3] / "deploy" / "github-action"
BIN = Path(sys.executable).parent
MANIFEST = """\
name: shop-preview
spec:
  cluster: staging
  labels: {app: shop}
  ttl: {duration: 4h}
  forks:
    - forkOf: {kind: Deployment, namespace: shop, name: checkout}
      customizations:
        images: [{container: app, image: registry.example.com/checkout:pr-42}]
"""
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    postgres_admin: str | None,
) -> Iterator[tuple[str, str]]:
    """A control plane process; yields (its URL, its database URL)."""
    workdir = tmp_path_factory.mktemp("action-server")
    with served_store(request.param, workdir, sqlite_template, postgres_admin) as served:
        yield served


def _bootstrap(served: tuple[str, str], home: Path) -> tuple[str, str]:
    """A new organisation; returns its name and its owner's API token."""
    org = f"org-{uuid.uuid4().hex[:8]}"
    booted = subprocess.run(
        [
            *(str(BIN / "sandboxmesh"), "admin", "bootstrap", "--org", org),
            *("--email", "o@acme.example", "--database-url", served[1], "-o", "json"),
        ],
        env={**os.environ, "SANDBOXMESH_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    token: str = json.loads(booted.stdout)["token"]
    return org, token


def _resolve(text: str, context: Mapping[str, str]) -> str:
    """`${{ ... }}` in `text` as GitHub evaluates them, for the names the action uses."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in context, f"the action uses {name!r}, which the test does not provide"
        return context[name]

    return _EXPRESSION.sub(value, text)


def run_action(
    inputs: Mapping[str, str], workspace: Path, event: Mapping[str, str]
) -> tuple[list[subprocess.CompletedProcess[str]], Path, Path]:
    """Run the action's steps in order, as the runner would (stopping at a failed one);
    returns the finished steps, the summary file and the output file."""
    action = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    declared = action["inputs"]
    for name, spec in declared.items():
        if spec.get("required"):
            assert name in inputs, f"input {name} is required"
    assert set(inputs) <= set(declared), "an input the action does not declare"
    context = {
        **{f"inputs.{k}": str(v.get("default", "")) for k, v in declared.items()},
        **{f"inputs.{k}": v for k, v in inputs.items()},
        **event,
    }
    summary = workspace / "step-summary.md"
    outputs = workspace / "github-output"
    temp = workspace / "runner-temp"
    temp.mkdir()
    runner_env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(workspace),
        "SANDBOXMESH_HOME": str(workspace / ".sandboxmesh"),
        "GITHUB_ACTION_PATH": str(ACTION_DIR),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(temp),
    }
    finished = []
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash"
        # Values from outside come in through env only (no expression inside a script).
        assert "${{" not in step["run"], f"step {step['name']!r} splices an expression"
        env = {k: _resolve(str(v), context) for k, v in (step.get("env") or {}).items()}
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=workspace,
            env={**runner_env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        finished.append(done)
        if done.returncode != 0:
            break
    return finished, summary, outputs


def _play_agent(server: str, agent_token: str, name: str, preview: str) -> None:
    agent = ControlPlaneClient(ClientConfig(url=server, token=agent_token, agent_version="t/1"))
    with agent:
        assigned = eventually(
            lambda: agent.send(endpoints.assignments(0, wait=0)).assignments,
            timeout=60,
            what="the sandbox to be assigned",
        )
        assert assigned[0].name == name
        status = SandboxStatus.model_validate(
            {
                "phase": Phase.READY,
                "ready": True,
                "reason": "Ready",
                "previewUrls": [
                    {
                        "name": "web",
                        "url": preview,
                        "namespace": "shop",
                        "service": "web",
                        "port": 80,
                    }
                ],
            }
        )
        agent.send(
            endpoints.report_status(
                StatusReportBatch(
                    reports=[SandboxStatusReport(name=name, observed_generation=1, status=status)]
                )
            )
        )


PULL_REQUEST = {
    "github.event.pull_request.number": "42",
    "github.event.repository.name": "shop",
}


def test_the_action_applies_waits_and_summarises_then_the_webhook_cleans_up(
    served: tuple[str, str], tmp_path: Path
) -> None:
    server = served[0]
    _, token = _bootstrap(served, tmp_path)
    owner = ControlPlaneClient(ClientConfig(url=server, token=token))
    agent_token = owner.send(endpoints.register_cluster("staging")).token
    (tmp_path / "preview.yaml").write_text(MANIFEST)
    preview = "https://web-pr-42.preview.example.com/"
    agent = threading.Thread(target=_play_agent, args=(server, agent_token, "pr-42-shop", preview))
    agent.start()
    steps, summary, outputs = run_action(
        {
            "file": "preview.yaml",
            "url": server,
            "token": token,
            "name": "pr-42-shop",
            "timeout": "60s",
        },
        tmp_path,
        PULL_REQUEST,
    )
    agent.join(timeout=60)
    assert [s.returncode for s in steps] == [0, 0, 0], [s.stderr for s in steps]
    assert "pr-42-shop is Ready" in steps[1].stderr
    assert steps[2].stdout.strip() == f"web: {preview}"
    written = summary.read_text()
    assert "### Sandbox `pr-42-shop` is Ready" in written
    assert f"| web | <{preview}> |" in written
    assert dict(line.split("=", 1) for line in outputs.read_text().splitlines()) == {
        "name": "pr-42-shop",
        "routing-key": owner.send(endpoints.get_sandbox("pr-42-shop")).routing_key,
        "preview-urls": json.dumps([{"name": "web", "url": preview}]),
    }
    sandbox = owner.send(endpoints.get_sandbox("pr-42-shop"))
    assert sandbox.spec.labels == {"app": "shop", "pr": "42", "repo": "shop"}

    # The pull request closes: GitHub's signed delivery deletes the sandbox by its labels.
    secret = owner.send(endpoints.rotate_webhook_secret())
    body = json.dumps({"action": "closed", "number": 42, "repository": {"name": "shop"}}).encode()
    signature = "sha256=" + hmac.new(secret.value.encode(), body, hashlib.sha256).hexdigest()
    assert secret.url.endswith(
        "/api/v1/webhooks/github/" + owner.send(endpoints.whoami()).organization
    )
    delivered = httpx.post(
        server + "/api/v1/webhooks/github/" + owner.send(endpoints.whoami()).organization,
        content=body,
        headers={
            "content-type": "application/json",
            "x-github-event": "pull_request",
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": signature,
        },
    )
    assert delivered.json() == {"outcome": "deleted", "sandboxes": ["pr-42-shop"]}
    assert owner.send(endpoints.get_sandbox("pr-42-shop")).deleting
    owner.close()


def test_a_refused_apply_fails_the_action_in_one_line(
    served: tuple[str, str], tmp_path: Path
) -> None:
    server = served[0]
    org, token = _bootstrap(served, tmp_path)
    with ControlPlaneClient(ClientConfig(url=server, token=token)) as owner:
        owner.send(endpoints.register_cluster("staging"))
        owner.send(endpoints.set_policy({"maxTtl": "1h"}))
    (tmp_path / "preview.yaml").write_text(MANIFEST)
    steps, summary, _ = run_action(
        {"file": "preview.yaml", "url": server, "token": token}, tmp_path, PULL_REQUEST
    )
    assert [s.returncode != 0 for s in steps] == [False, True]
    assert steps[1].stderr.strip().splitlines()[-1] == (
        "error: spec.ttl.duration 4h is above the maximum TTL 1h that the organization "
        f"{org!r} allows (ttl_above_maximum)"
    )
    assert not summary.exists()
