"""The whole journey in a browser, with the whole system running: sign up, create a team,
register a cluster (its token shown exactly once), install the agent and operator with that
token, create a sandbox and watch it turn Ready, delete it, and see the usage."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace
from playwright.sync_api import Page, expect
from tests.browser.conftest import Portal, shoot
from tests.browser.flows import create_team, fill_sandbox_form, register_cluster, sign_up, unique
from tests.support.eventually import eventually
from tests.support.kube import apply_baseline, purge_sandboxes, service_account_kubeconfig
from tests.support.system import Process, start_agent, start_operator

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = [pytest.mark.cluster]

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "sandboxmesh"
RELEASE = "sandboxmesh"
TOKEN_SECRET = "sandboxmesh-agent-token"
IDENTITIES = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


@dataclass
class Installed:
    """The chart's agent and operator identities in a namespace, as `helm install` makes them."""

    namespace: str
    agent_kubeconfig: Path
    operator_kubeconfig: Path
    kubectl: list[str]


def _kubectl(kubectl: list[str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [*kubectl, *args], input=stdin, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def installed(kube_target: KubeTarget, kube_client: Client, tmp_path: Path) -> Iterator[Installed]:
    namespace = f"portal-{uuid.uuid4().hex[:6]}"
    kube_client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    binary = str(Binaries.locate().kubectl) if kube_target.local else "kubectl"
    kubectl = [binary, f"--kubeconfig={kube_target.kubeconfig}"]
    rendered = subprocess.run(
        [str(Binaries.locate().helm), "template", RELEASE, str(CHART), "--namespace", namespace,
         "--set", "controlPlane.url=http://unused"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    identities = yaml.safe_dump_all(
        [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in IDENTITIES]
    )
    _kubectl(kubectl, "apply", "--server-side", "-f", "-", stdin=identities)
    agent = service_account_kubeconfig(
        binary, kube_target.kubeconfig, namespace, f"{RELEASE}-agent", tmp_path / "agent.kc"
    )
    operator = service_account_kubeconfig(
        binary, kube_target.kubeconfig, namespace, f"{RELEASE}-operator", tmp_path / "op.kc"
    )
    try:
        yield Installed(namespace, agent, operator, kubectl)
    finally:
        purge_sandboxes(kube_client, {"app.kubernetes.io/managed-by": "sandboxmesh-agent"})
        _kubectl(kubectl, "delete", "-f", "-", "--ignore-not-found", "--wait=false",
                 stdin=identities)  # fmt: skip


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def test_sign_up_to_a_ready_sandbox_and_its_usage(
    page: Page,
    portal: Portal,
    installed: Installed,
    processes: list[Process],
    kube_client: Client,
    namespace: str,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    apply_baseline(kube_client, namespace, "checkout", replicas=2)
    org = unique("journey")
    sandbox = unique("pr")

    # Sign up, and a team.
    sign_up(page, portal, f"owner@{org}.example", org)
    shoot(page, screenshots, "journey-empty-sandboxes")
    create_team(page, portal, "payments")

    # Register the cluster: the token is on the page once, and gone on reload.
    token = register_cluster(page, portal, "local")
    install = page.locator("#install-command").inner_text()
    assert f"--from-literal=token={token}" in install
    assert f"--set controlPlane.url={portal.url}" in install
    shoot(page, screenshots, "journey-cluster-registered")
    page.reload()
    expect(page.locator("#cluster-token")).to_have_count(0)
    assert token not in page.content()
    expect(page.locator("#connection-state")).to_have_text("never-connected")

    # Install as the page says: the token in a Secret, then the agent and the operator.
    _kubectl(installed.kubectl, "-n", installed.namespace, "create", "secret", "generic",
             TOKEN_SECRET, f"--from-literal=token={token}")  # fmt: skip
    processes.append(start_operator(
        installed.operator_kubeconfig, tmp_path, f"--lease-namespace={installed.namespace}"
    ))  # fmt: skip
    processes.append(start_agent(
        portal.url, installed.agent_kubeconfig, tmp_path,
        f"--token-secret={installed.namespace}/{TOKEN_SECRET}",
    ))  # fmt: skip
    page.reload()
    expect(page.locator("#connection-state")).to_have_text("connected")

    # Create a sandbox from the form; its status turns Ready live (htmx polling, no reload).
    fill_sandbox_form(
        page,
        portal,
        {"name": sandbox, "cluster": "local", "team": "payments", "namespace": namespace,
         "deployment": "checkout", "container": "app", "image": "example/app:pr",
         "description": "the browser journey"},
    )  # fmt: skip
    expect(page).to_have_url(portal.at(f"/sandboxes/{sandbox}"))
    expect(page.locator("#sandbox-phase")).to_have_text("Ready", timeout=120_000)
    expect(
        page.get_by_role("cell", name=f"Deployment {namespace}/checkout-sbx-{sandbox}")
    ).to_be_visible()
    routing_key = page.locator("#routing-key").inner_text()
    assert f'x-sandboxmesh-routing-key: {routing_key}"' in page.locator("#curl-line").inner_text()
    shoot(page, screenshots, "journey-sandbox-ready")
    fork = kube_client.get(Deployment, f"checkout-sbx-{sandbox}", namespace=namespace)
    assert fork.spec is not None

    page.goto(portal.at("/sandboxes"))
    row = page.locator(f"tr[data-sandbox='{sandbox}']")
    expect(row.locator(".badge")).to_have_text("Ready")

    # Delete it, confirmed; the list drops it once the cluster confirms (live, no reload).
    page.goto(portal.at(f"/sandboxes/{sandbox}"))
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", name=f"Delete {sandbox}?")).to_be_visible()
    page.get_by_role("button", name=f"Delete {sandbox}").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Deletion of {sandbox} requested")
    expect(page.locator(f"tr[data-sandbox='{sandbox}']")).to_have_count(0, timeout=120_000)
    eventually(
        lambda: not list(kube_client.list(Deployment, namespace=namespace,
                                          labels={"sandboxmesh.io/sandbox": sandbox})),
        timeout=60, what="the fork to be removed",
    )  # fmt: skip

    # The usage: the sandbox's lifetime is metered for its team.
    page.goto(portal.at("/usage"))
    statement = page.locator("#statement")
    expect(statement.get_by_role("rowheader", name="payments")).to_be_visible()
    expect(page.get_by_role("rowheader", name=sandbox)).to_be_visible()
    assert page.locator("svg rect.bar").count() >= 1
    shoot(page, screenshots, "journey-usage")
