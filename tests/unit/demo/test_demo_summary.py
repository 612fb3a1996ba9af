"""The demo's objects and what it tells its user (demo.json, the lines to try)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.demo import manifests, summary
from sandboxmesh.spec import SandboxManifest

INFO = summary.DemoInfo(
    api_url="http://127.0.0.1:8080",
    portal_url="http://127.0.0.1:8080",
    portal_email="demo@example.com",
    portal_password="generated-per-run",
    token="smu_x_secret",
    frontend_url="http://127.0.0.1:8000/",
    sandboxes=(
        summary.DemoSandbox(
            "pr-42",
            "abcdefghij1234",
            {
                "shop": "http://shop-abcdefghij1234.preview.test:30081/",
                "web": "http://web-abcdefghij1234.preview.test:30081/",
            },
        ),
    ),
    mail_dir=Path("/home/dev/.sandboxmesh/demo/mail"),
)


def test_demo_json_holds_the_documented_fields_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    summary.write(path, INFO)
    assert json.loads(path.read_text()) == {
        "apiUrl": "http://127.0.0.1:8080",
        "portalUrl": "http://127.0.0.1:8080",
        "portalEmail": "demo@example.com",
        "portalPassword": "generated-per-run",
        "token": "smu_x_secret",
        "frontendUrl": "http://127.0.0.1:8000/",
        "sandboxes": [
            {
                "name": "pr-42",
                "routingKey": "abcdefghij1234",
                "previewUrls": {
                    "shop": "http://shop-abcdefghij1234.preview.test:30081/",
                    "web": "http://web-abcdefghij1234.preview.test:30081/",
                },
            }
        ],
        "mailDir": "/home/dev/.sandboxmesh/demo/mail",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    summary.write(path, INFO)  # rewriting replaces it whole
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]


def test_the_lines_to_try_carry_the_key_in_both_headers() -> None:
    text = summary.instructions(
        INFO, cli="sandboxmesh", kubectl="kubectl", kubeconfig=Path("/h/demo/kubeconfig"),
        namespace="demo", home=Path("/h"),
    )  # fmt: skip
    assert "curl -s http://127.0.0.1:8000/" in text
    assert (
        "curl -s -H 'baggage: sandboxmesh-routing-key=abcdefghij1234' http://127.0.0.1:8000/"
        in text
    )
    assert "curl -s -H 'x-sandboxmesh-routing-key: abcdefghij1234' http://127.0.0.1:8000/" in text
    assert "sandboxmesh sandbox list" in text
    assert "Ctrl-C" in text
    assert "log in as demo@example.com" in text
    assert "generated-per-run" not in text  # the password stays in demo.json
    # The preview URLs, and how to reach a domain no DNS serves.
    assert "preview shop       http://shop-abcdefghij1234.preview.test:30081/" in text
    assert (
        "curl -s --resolve shop-abcdefghij1234.preview.test:30081:127.0.0.1 "
        "http://shop-abcdefghij1234.preview.test:30081/" in text
    )
    assert (
        "chromium --host-resolver-rules='MAP *.preview.test 127.0.0.1' "
        "http://web-abcdefghij1234.preview.test:30081/" in text
    )


def test_the_app_has_routed_services_and_deployments_of_the_demo_image() -> None:
    services = manifests.service_objects("demo", frontend_node_port=8000)
    deployments = manifests.deployment_objects("demo")
    assert [o["kind"] for o in services + deployments] == ["Service"] * 3 + ["Deployment"] * 3
    for service in services:
        assert service["metadata"]["annotations"] == {"sandboxmesh.io/route": "true"}
    frontend, checkout = services[0]["spec"], services[1]["spec"]
    assert (frontend["type"], frontend["ports"][0]["nodePort"]) == ("NodePort", 8000)
    assert "type" not in checkout  # only the front door leaves the cluster
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == manifests.DEMO_IMAGE == catalog.DEMO_APP_IMAGE
        assert container["imagePullPolicy"] == "IfNotPresent"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    any_port = manifests.service_objects("demo", frontend_node_port=0)[0]["spec"]
    assert any_port["type"] == "NodePort"
    assert "nodePort" not in any_port["ports"][0]


def test_the_demo_sandbox_forks_checkout_with_a_visible_change() -> None:
    sandbox = manifests.sandbox("pr-42", cluster="local")
    assert isinstance(sandbox, SandboxManifest)
    (fork,) = sandbox.spec.forks
    assert (fork.fork_of.namespace, fork.fork_of.name) == ("demo", "checkout")
    (env,) = fork.customizations.env
    assert env.name == manifests.FORK_MESSAGE_ENV
    assert env.value
