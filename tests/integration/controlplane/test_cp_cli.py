"""The CLI against a real server process: bootstrap, login, teams, clusters, sandboxes, usage."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml
from click.testing import Result
from tests.support.controlplane_server import served_store
from tests.support.eventually import eventually
from typer.testing import CliRunner

from sandboxmesh.cli.app import app
from sandboxmesh.cli.cluster import install_command
from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.controlplane.store import migrate
from sandboxmesh.spec import Phase, SandboxStatus
from sandboxmesh.spec.protocol import (
    SandboxStatusReport,
    StatusReportBatch,
    TraceHop,
    TraceReport,
)

MANIFEST = """
name: pr-42-checkout
spec:
  cluster: staging
  description: "PR #42"
  labels: {pr: "42"}
  ttl: {duration: 4h, offsetFrom: createdAt}
  forks:
    - forkOf: {kind: Deployment, namespace: shop, name: checkout}
      customizations:
        images: [{container: app, image: registry.example.com/checkout:pr-42}]
"""


class Cli:
    def __init__(self, home: Path, database_url: str, org: str) -> None:
        self.home = home
        self.database_url = database_url
        self.org = org
        self.env = {"SANDBOXMESH_HOME": str(home), "SANDBOXMESH_URL": "", "SANDBOXMESH_TOKEN": ""}
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    postgres_admin: str | None,
) -> Iterator[tuple[str, str]]:
    """One server process per store for the module (starting one costs seconds); each test
    works in an organisation of its own. Yields (server URL, database URL)."""
    workdir = tmp_path_factory.mktemp("cli-server")
    with served_store(request.param, workdir, sqlite_template, postgres_admin) as served:
        yield served


@pytest.fixture
def cli(tmp_path: Path, served: tuple[str, str]) -> Cli:
    return Cli(tmp_path, served[1], org=f"org-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def server(served: tuple[str, str]) -> str:
    return served[0]


@pytest.fixture
def logged_in(cli: Cli, server: str) -> str:
    """Bootstraps the test's organisation, logs in as its owner; returns the owner's token."""
    boot = cli.json(
        "admin",
        "bootstrap",
        "--org",
        cli.org,
        "--email",
        "o@acme.example",
        "--database-url",
        cli.database_url,
    )
    token: str = boot["token"]
    cli("login", "--url", server, "--token", token)
    return token


def test_login_stores_credentials_owner_only(cli: Cli, server: str, logged_in: str) -> None:
    path = cli.home / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": server, "token": logged_in}
    assert "owner" in cli("team", "list").stdout or cli("team", "list").stdout


def test_environment_overrides_the_stored_login(cli: Cli, server: str, logged_in: str) -> None:
    cli.env["SANDBOXMESH_TOKEN"] = "smu_dead_beef"
    result = cli("team", "list", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: invalid, expired or revoked token (unauthorized)"
    ]


def test_not_logged_in_is_one_line(cli: Cli) -> None:
    result = cli("team", "list", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("error: not logged in")
    assert len(result.output.strip().splitlines()) == 1


def test_tenancy_commands(cli: Cli, logged_in: str) -> None:
    cli("team", "create", "payments", "--max-sandboxes", "3")
    teams = cli.json("team", "list")
    assert [t["name"] for t in teams["items"]] == ["default", "payments"]
    assert "payments" in cli("team", "list").stdout
    assert yaml.safe_load(cli("team", "get", "payments", "-o", "yaml").stdout)["maxSandboxes"] == 3
    added = cli("member", "add", "dev@acme.example", "--team", "payments").stdout
    # No mail server behind this control plane: the link is printed once, to pass on.
    assert "no mail was sent: pass this invitation link on to dev@acme.example" in added
    assert "/portal/invitations/smi_" in added.splitlines()[-1]
    assert "smu_" not in added
    members = cli.json("member", "list")
    assert {m["email"]: m["status"] for m in members["items"]} == {
        "o@acme.example": "active",
        "dev@acme.example": "pending",
    }
    cli("member", "remove", "dev@acme.example")
    quota = cli.json("quota", "set", "--team", "payments", "--max-sandboxes", "7")
    assert quota == {"scope": "team", "name": "payments", "maxSandboxes": 7, "activeSandboxes": 0}
    org = cli.json("quota", "get", "--org")
    assert org["maxSandboxes"] == 50
    bad = cli("quota", "get", ok=False)
    assert bad.output.startswith("error: name exactly one of --team T or --org")
    token = cli("token", "create", "ci").stdout.strip()
    assert token.startswith("smu_")
    prefix = "_".join(token.split("_")[:2])
    cli("token", "revoke", prefix)
    duplicate = cli("team", "create", "payments", ok=False)
    assert duplicate.output.strip() == "error: team 'payments' already exists (conflict)"


def test_policy_commands(cli: Cli, logged_in: str, tmp_path: Path) -> None:
    cli("team", "create", "payments")
    org = cli.json(
        "policy",
        "set",
        "--default-ttl",
        "4h",
        "--max-ttl",
        "1d",
        "--default-idle",
        "30m",
        "--max-sandboxes-per-member",
        "3",
    )
    assert (org["scope"], org["defaultTtl"], org["maxTtl"], org["defaultIdle"]) == (
        "organization",
        "4h",
        "1d",
        "30m",
    )
    assert org["maxSandboxesPerMember"] == 3
    # set changes only what it is given; none clears a value.
    changed = yaml.safe_load(cli("policy", "set", "--default-idle", "none", "-o", "yaml").stdout)
    assert (changed["defaultIdle"], changed["maxTtl"]) == (None, "1d")
    team = cli.json("policy", "set", "--team", "payments", "--max-ttl", "2h")
    assert team["effective"] == {
        "defaultTtl": "2h",
        "maxTtl": "2h",
        "defaultIdle": None,
        "maxSandboxesPerMember": 3,
    }
    table = cli("policy", "get", "--team", "payments").stdout
    assert "in force" in table
    assert "2h" in table
    # Refusals: one line, non-zero exit, naming the limit and the value.
    wider = cli("policy", "set", "--team", "payments", "--max-ttl", "2d", ok=False)
    assert wider.exit_code != 0
    assert len(wider.output.strip().splitlines()) == 1
    assert "(policy_above_organization)" in wider.output
    bad = cli("policy", "set", "--max-sandboxes-per-member", "many", ok=False)
    assert (
        bad.output.strip() == "error: --max-sandboxes-per-member: 'many' is not a number (or none)"
    )
    assert cli("policy", "set", ok=False).output.startswith("error: give at least one of")
    cli("cluster", "register", "staging")
    file = tmp_path / "long.yaml"
    in_payments = MANIFEST.replace("  cluster: staging\n", "  cluster: staging\n  team: payments\n")
    file.write_text(in_payments.replace("duration: 4h", "duration: 3h"))
    too_long = cli("sandbox", "apply", "-f", str(file), ok=False)
    assert too_long.exit_code != 0
    assert len(too_long.output.strip().splitlines()) == 1
    assert "3h is above the maximum TTL 2h" in too_long.output
    assert "(ttl_above_maximum)" in too_long.output


def test_webhook_secret_commands(cli: Cli, server: str, logged_in: str) -> None:
    missing = cli("webhook", "secret", "get", ok=False)
    assert missing.exit_code != 0
    assert missing.output.strip() == "error: webhook secret 'github' not found (not_found)"
    shown = cli("webhook", "secret", "rotate").stdout.splitlines()
    assert shown[0] == f"payload URL:  {server}/api/v1/webhooks/github/{cli.org}"
    secret = shown[-1]
    assert secret.startswith("smw_")
    listed = cli.json("webhook", "secret", "get")
    assert secret.startswith(listed["prefix"] + "_")
    assert secret not in cli("webhook", "secret", "get").stdout
    cli("webhook", "secret", "delete")


def test_apply_takes_a_name_and_labels_beside_the_manifest(
    cli: Cli, logged_in: str, tmp_path: Path
) -> None:
    cli("cluster", "register", "staging")
    path = tmp_path / "sandbox.yaml"
    path.write_text(MANIFEST)
    applied = cli.json("sandbox", "apply", "-f", str(path), "--name", "pr-7", "-l", "pr=7")
    assert (applied["name"], applied["spec"]["labels"]) == ("pr-7", {"pr": "7"})
    bad = cli("sandbox", "apply", "-f", str(path), "--label", "nothing", ok=False)
    assert bad.output.strip() == "error: --label 'nothing' is not key=value"


def test_only_the_installation_lifts_an_organisation_beyond_its_plan(
    cli: Cli, logged_in: str
) -> None:
    refused = cli("quota", "set", "--org", "--max-sandboxes", "51", ok=False)
    assert refused.exit_code == 1
    assert "the team plan allows at most 50 sandboxes" in refused.output
    lift = ["admin", "org-limit", "--org", cli.org, "--database-url", cli.database_url]
    lifted = cli.json(*lift, "--max-sandboxes", "500")
    assert lifted == {
        "organization": cli.org,
        "plan": "team",
        "maxSandboxes": 500,
        "effectiveMaxSandboxes": 500,
    }
    assert cli.json("quota", "get", "--org")["maxSandboxes"] == 500
    assert cli.json(*lift, "--plan-default")["effectiveMaxSandboxes"] == 50
    assert cli.json("quota", "get", "--org")["maxSandboxes"] == 50
    unknown = ["admin", "org-limit", "--org", "nobody-here", "--max-sandboxes", "9"]
    missing = cli(*unknown, "--database-url", cli.database_url, ok=False)
    assert missing.output.strip() == "error: organization 'nobody-here' not found"
    neither = cli(*lift, ok=False)
    assert neither.output.strip() == "error: give either --max-sandboxes N or --plan-default"


def test_cluster_register_prints_the_token_once_and_how_to_install(
    cli: Cli, server: str, logged_in: str
) -> None:
    out = cli("cluster", "register", "staging").stdout
    token = out.splitlines()[2]
    assert token.startswith("smc_")
    assert install_command(server, token) in out
    assert "helm install sandboxmesh deploy/helm/sandboxmesh" in out
    assert f"--set controlPlane.url={server}" in out
    listed = cli("cluster", "list").stdout
    assert "never-connected" in listed
    assert token not in listed
    rotated = cli.json("cluster", "token", "rotate", "staging")
    assert rotated["token"].startswith("smc_")
    cli("cluster", "token", "revoke", "staging")


def test_sandbox_apply_wait_follows_the_agent_reports(
    cli: Cli, server: str, logged_in: str, tmp_path: Path
) -> None:
    agent_token = cli.json("cluster", "register", "staging")["token"]
    path = tmp_path / "sandbox.yaml"
    path.write_text(MANIFEST)
    outcome: dict[str, Result] = {}
    applying = threading.Thread(
        target=lambda: outcome.setdefault(
            "apply",
            cli("sandbox", "apply", "-f", str(path), "--wait", "--timeout", "60s", ok=False),
        )
    )
    applying.start()
    owner = ControlPlaneClient(ClientConfig(url=server, token=logged_in))
    agent = ControlPlaneClient(ClientConfig(url=server, token=agent_token, agent_version="t/1"))
    try:
        batch = eventually(
            lambda: agent.send(endpoints.assignments(0, wait=0)).assignments,
            timeout=30,
            what="the sandbox to be assigned",
        )
        assert batch[0].name == "pr-42-checkout"
        preview_url = f"https://web-{batch[0].spec.routing_key}.preview.example.com/"
        for phase, ready in ((Phase.PROVISIONING, False), (Phase.READY, True)):
            web = {"name": "web", "url": preview_url, "namespace": "shop", "service": "web"}
            reported = {"phase": phase, "ready": ready, "reason": phase.value}
            if ready:
                reported["previewUrls"] = [{**web, "port": 80}]
            agent.send(
                endpoints.report_status(
                    StatusReportBatch(
                        reports=[
                            SandboxStatusReport(
                                name="pr-42-checkout",
                                observed_generation=1,
                                status=SandboxStatus.model_validate(reported),
                            )
                        ]
                    )
                )
            )
        applying.join(timeout=60)
        result = outcome["apply"]
        assert result.exit_code == 0, result.output
        assert "pr-42-checkout is Ready" in result.output
        shown = cli.json("sandbox", "get", "pr-42-checkout")
        assert shown["status"]["phase"] == "Ready"
        assert [u["url"] for u in shown["status"]["previewUrls"]] == [preview_url]
        as_yaml = yaml.safe_load(cli("sandbox", "get", "pr-42-checkout", "-o", "yaml").stdout)
        assert as_yaml["status"]["previewUrls"] == shown["status"]["previewUrls"]
        table = cli("sandbox", "get", "pr-42-checkout").stdout.splitlines()
        assert table[table.index("preview URLs:") + 1] == f"  web  {preview_url}  (authenticated)"
        listed = cli("sandbox", "list", "--label", "pr=42").stdout
        assert "pr-42-checkout" in listed
        assert "Ready" in listed

        deleting = threading.Thread(
            target=lambda: outcome.setdefault(
                "delete", cli("sandbox", "delete", "pr-42-checkout", "--wait", ok=False)
            )
        )
        deleting.start()
        eventually(
            lambda: owner.send(endpoints.get_sandbox("pr-42-checkout")).deleting,
            timeout=30,
            what="deletion to be requested",
        )
        from sandboxmesh.spec.protocol import GoneConfirmation

        agent.send(
            endpoints.report_status(
                StatusReportBatch(gone=[GoneConfirmation(name="pr-42-checkout")])
            )
        )
        deleting.join(timeout=60)
        assert outcome["delete"].exit_code == 0, outcome["delete"].output
        assert "is gone" in outcome["delete"].output
    finally:
        owner.close()
        agent.close()

    usage = cli("usage", "-o", "csv").stdout
    assert usage.splitlines()[0] == "month,team,sandboxes,sandbox_hours"
    assert ",default,1," in usage
    statement = cli.json("usage", "--team", "default")
    assert statement["teams"][0]["sandboxes"] == 1


def test_apply_reports_field_errors_in_one_line(cli: Cli, logged_in: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: Not_A_Dns_Name\nspec: {cluster: staging, forks: []}\n")
    result = cli("sandbox", "apply", "-f", str(path), ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "(invalid)" in lines[0]
    missing = cli("sandbox", "apply", "-f", str(tmp_path / "nope.yaml"), ok=False)
    assert missing.output.startswith("error: cannot read")


def test_bootstrap_with_a_password_file_opens_the_portal(
    cli: Cli, server: str, tmp_path: Path
) -> None:
    email = f"{cli.org}@acme.example"
    boot = ["admin", "bootstrap", "--org", cli.org, "--email", email]
    boot += ["--database-url", cli.database_url]
    short, good = tmp_path / "short", tmp_path / "good"
    short.write_text("too short\n")
    good.write_text("correct horse battery\n")  # the trailing newline is not part of it

    refused = cli(*boot, "--password-file", str(short), ok=False)
    assert refused.exit_code != 0
    assert refused.output.strip() == f"error: --password-file {short}: Use at least 10 characters."
    missing = cli(*boot, "--password-file", str(tmp_path / "nope"), ok=False)
    assert missing.output.startswith(f"error: --password-file {tmp_path / 'nope'}: ")

    cli(*boot, "--password-file", str(good))
    with httpx.Client(base_url=server, timeout=10, follow_redirects=True) as browser:
        form = browser.get("/portal/login").text
        csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = browser.post(
            "/portal/login",
            data={"email": email, "password": "correct horse battery", "csrf_token": csrf},
        )
        assert signed_in.status_code == 200
        assert signed_in.url.path == "/portal/sandboxes"

    # The account exists now: a second organisation with a password for it is refused whole,
    # so the same bootstrap without the password still succeeds afterwards.
    again = ["admin", "bootstrap", "--org", f"{cli.org}-2", "--email", email]
    again += ["--database-url", cli.database_url]
    taken = cli(*again, "--password-file", str(good), ok=False)
    assert taken.output.strip() == f"error: an account for {email!r} already exists"
    cli(*again)


def test_db_upgrade(cli: Cli) -> None:
    out = cli("db", "upgrade", "--database-url", cli.database_url).stdout
    assert out.strip() == f"database at revision {migrate.head_revision()}"
    bad = cli("db", "upgrade", "--database-url", "mysql://nope/x", ok=False)
    assert bad.output.startswith("error: unsupported database")


def test_home_is_private(cli: Cli, logged_in: str) -> None:
    assert os.access(cli.home / "credentials.json", os.R_OK)


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_route_trace_sends_a_traced_request_and_prints_the_agents_hops(
    cli: Cli, server: str, logged_in: str, tmp_path: Path
) -> None:
    agent_token = cli.json("cluster", "register", "staging")["token"]
    path = tmp_path / "sandbox.yaml"
    path.write_text(MANIFEST)
    key = cli.json("sandbox", "apply", "-f", str(path))["routingKey"]
    _Recorder.seen.clear()
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    agent = ControlPlaneClient(ClientConfig(url=server, token=agent_token, agent_version="t/1"))
    revision = agent.send(endpoints.assignments(0, wait=0, features=("traces",))).revision
    answered: list[str] = []

    def fake_agent() -> None:
        # What the agent does, with the hops a route server would have worked out.
        since = revision
        while len(answered) < 3:
            batch = agent.send(endpoints.assignments(since, wait=10, features=("traces",)))
            since = batch.revision
            for request in batch.trace_requests or []:
                answer(request.trace_id)

    def answer(trace_id: str) -> None:
        hops = [
            TraceHop(at=1.0, service="shop/frontend", router="r1", decision="baseline",
                     reason="the key is sandbox pr-42-checkout's, which does not fork this "
                     "Service", key=key),
            TraceHop(at=2.0, service="shop/checkout", router="r2", decision="pr-42-checkout",
                     reason="the request's key is this sandbox's", key=key),
            TraceHop(at=3.0, service="shop/payments", router="r3", decision="baseline",
                     reason="no routing key arrived: shop/checkout did not propagate baggage"),
        ]  # fmt: skip
        agent.send(endpoints.report_trace(TraceReport(trace_id=trace_id, hops=hops)))
        answered.append(trace_id)

    relaying = threading.Thread(target=fake_agent)
    relaying.start()
    try:
        url = f"http://127.0.0.1:{target.server_port}/cart"
        result = cli(
            "route", "trace", url, "--sandbox", "pr-42-checkout", "-H", "X-Test: 1",
            "-H", "baggage: user=7", "-o", "json",
        )  # fmt: skip
        table = cli("route", "trace", url, "--key", key).stdout
        # A route group's key: asked through its member's cluster, the group's key sent.
        group_file = tmp_path / "group.yaml"
        group_file.write_text(ROUTE_GROUP)
        group_key = cli.json("routegroup", "apply", "-f", str(group_file))["routingKey"]
        grouped = json.loads(cli("route", "trace", url, "--key", group_key, "-o", "json").stdout)
        relaying.join(timeout=30)
    finally:
        target.shutdown()
        agent.close()
    shown = json.loads(result.stdout)
    sent, _, sent_with_group_key = _Recorder.seen
    assert sent_with_group_key["baggage"] == f"sandboxmesh-routing-key={group_key}"
    assert grouped["traceId"] == answered[2]
    assert sent["x-test"] == "1"
    assert sent["tracestate"] == "sandboxmesh=1"
    assert sent["baggage"] == f"user=7,sandboxmesh-routing-key={key}"
    assert sent["traceparent"].split("-")[1] == shown["traceId"] == answered[0]
    assert shown["status"] == 201
    assert shown["state"] == "answered"
    assert [h["service"] for h in shown["hops"]] == [
        "shop/frontend",
        "shop/checkout",
        "shop/payments",
    ]

    lines = table.splitlines()
    assert lines[0] == f"GET {url} -> HTTP 201   trace {answered[1]}"
    assert lines[1].split() == ["SERVICE", "DECISION", "REASON"]
    assert lines[3].split()[:3] == ["shop/checkout", "pr-42-checkout", "the"]
    assert "shop/checkout did not propagate baggage" in lines[4]


def test_route_trace_without_an_answer_is_one_line(
    cli: Cli, server: str, logged_in: str, tmp_path: Path
) -> None:
    cli.json("cluster", "register", "staging")
    path = tmp_path / "sandbox.yaml"
    path.write_text(MANIFEST)
    cli("sandbox", "apply", "-f", str(path))
    _Recorder.seen.clear()
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{target.server_port}/"
        result = cli("route", "trace", url, "--sandbox", "pr-42-checkout", "--timeout", "1",
                     ok=False)  # fmt: skip
    finally:
        target.shutdown()
    assert result.exit_code == 3
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: no answer from cluster staging within 1s")
    )
    missing = cli("route", "trace", url, "--sandbox", "nope", ok=False)
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: sandbox 'nope' not found (not_found)"
    both = cli("route", "trace", url, ok=False)
    assert "exactly one of --sandbox NAME or --key KEY" in both.stderr
    unknown = cli("route", "trace", url, "--key", "nokey000000000", ok=False)
    assert unknown.stderr.strip() == (
        "error: no sandbox or route group of your organisation has the routing key nokey000000000"
    )
    group_file = tmp_path / "group.yaml"
    group_file.write_text(ROUTE_GROUP.replace('pr: "42"', 'pr: "7"'))
    lonely = cli.json("routegroup", "apply", "-f", str(group_file))["routingKey"]
    empty = cli("route", "trace", url, "--key", lonely, ok=False)
    assert empty.exit_code == 1
    assert (
        empty.stderr.strip() == "error: route group pr-42 has no members: no sandbox of it to trace"
    )


ROUTE_GROUP = """
name: pr-42
spec:
  cluster: staging
  description: "PR #42 across web and api"
  selector: {matchLabels: {pr: "42"}}
  ttl: {duration: 1d}
"""


def test_routegroup_commands_show_members_conflicts_and_refuse_in_one_line(
    cli: Cli, logged_in: str, tmp_path: Path
) -> None:
    cli("cluster", "register", "staging")
    sandbox = tmp_path / "sandbox.yaml"
    sandbox.write_text(MANIFEST)
    cli("sandbox", "apply", "-f", str(sandbox))
    path = tmp_path / "group.yaml"
    path.write_text(ROUTE_GROUP)

    applied = cli("routegroup", "apply", "-f", str(path), "-o", "json")
    body = json.loads(applied.stdout)
    assert body["name"] == "pr-42"
    assert [m["name"] for m in body["members"]] == ["pr-42-checkout"]
    assert f"routing key {body['routingKey']}" in applied.stderr
    assert [g["name"] for g in cli.json("routegroup", "list")["items"]] == ["pr-42"]
    listed = yaml.safe_load(cli("routegroup", "list", "-o", "yaml").stdout)
    assert listed["items"][0]["routingKey"] == body["routingKey"]

    # A second sandbox of the PR forking checkout too: the group shows the conflict.
    sandbox.write_text(MANIFEST.replace("pr-42-checkout", "pr-42-web"))
    cli("sandbox", "apply", "-f", str(sandbox))
    table = cli("routegroup", "get", "pr-42").stdout
    assert body["routingKey"] in table
    assert "Deployment/shop/checkout:pr-42-checkout+pr-42-web" in table
    assert (
        "conflict: Deployment/shop/checkout is forked by sandboxes pr-42-checkout and pr-42-web"
        in table
    )
    assert "member pr-42-web (team default, Pending) forks Deployment/shop/checkout" in table

    cli("routegroup", "delete", "pr-42")
    gone = cli("routegroup", "get", "pr-42", ok=False)
    assert gone.exit_code == 1
    assert gone.output.strip().splitlines() == ["error: route group 'pr-42' not found (not_found)"]

    path.write_text("- not a mapping\n")
    bad = cli("routegroup", "apply", "-f", str(path), ok=False)
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        f"error: {path} must hold one route group: a mapping with `name` and `spec`"
    ]
    path.write_text(ROUTE_GROUP.replace('{pr: "42"}', "{}"))
    invalid = cli("routegroup", "apply", "-f", str(path), ok=False)
    assert invalid.exit_code == 1
    (line,) = invalid.output.strip().splitlines()
    assert line.startswith("error: ")
    assert "matchLabels" in line
    assert "(invalid)" in line
