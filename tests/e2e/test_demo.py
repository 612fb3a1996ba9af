"""`sandboxmesh demo` as a user runs it: everything up, demo.json, routing, login, Ctrl-C.

The demo starts its own local cluster with a real node, its control plane, and as Pods on the
node (installed by the chart) the agent, the operator, the route server, its routers and the
demo app; the test only talks to what demo.json and the printed lines say. The host's one
real node is the demo's while it runs (the suite's own is stopped first).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import Pod
from tests.support import process_tree
from tests.support.eventually import eventually

from sandboxmesh.dev.cluster.node import host as node_host
from sandboxmesh.dev.cluster.node.configs import NODE_IP, NODE_NAME
from sandboxmesh.dev.processes import free_port

# Its own waits (demo.json within 480 s, under a cold image build) need more than the default.
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.usefixtures("real_node_host_free"),
    pytest.mark.timeout(900),
]

BASELINE = {"frontend": "baseline", "checkout": "baseline", "payments": "baseline"}


def route(url: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    response = httpx.get(url, headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.text
    return {hop["service"]: hop["version"] for hop in response.json()["hops"]}


def test_the_demo_runs_the_whole_system_and_ctrl_c_stops_all_of_it(tmp_path: Path) -> None:
    lacks = node_host.missing()
    if lacks:
        pytest.skip(f"THIS HOST CANNOT RUN THE REAL NODE (the demo's): no {'; no '.join(lacks)}")
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    api_port, frontend_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SANDBOXMESH_URL", "SANDBOXMESH_TOKEN")}
    env.update(SANDBOXMESH_HOME=str(home), TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "sandboxmesh", "demo", "--nodes=1", f"--port={api_port}",
             f"--frontend-port={frontend_port}"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    demo_json = home / "demo.json"

    def started() -> dict[str, Any] | str | None:
        if demo.poll() is not None:
            return "exited"  # at once: a raise would count as "not yet" until the deadline
        return json.loads(demo_json.read_text()) if demo_json.exists() else None

    try:
        info = eventually(started, timeout=480, what="demo.json", interval=0.5)
        assert isinstance(info, dict), f"the demo exited:\n{output.read_text()[-3000:]}"
        # Pods reach the control plane at the node's address; this machine does too.
        assert info["apiUrl"] == f"http://{NODE_IP}:{api_port}"
        assert info["portalUrl"] == info["apiUrl"]
        assert info["token"]
        assert info["frontendUrl"] == f"http://{NODE_IP}:{frontend_port}/"
        (sandbox,) = info["sandboxes"]
        name, key = sandbox["name"], sandbox["routingKey"]

        frontend = info["frontendUrl"]
        assert route(frontend) == BASELINE
        # Twenty of each: the frontend answers each request on a thread with kept connections
        # to checkout, and one that bypassed checkout's routers would answer about half of them.
        for _ in range(20):
            assert route(frontend, {"baggage": f"sandboxmesh-routing-key={key}"}) == {
                **BASELINE, "checkout": name,
            }  # fmt: skip
            assert route(frontend, {"x-sandboxmesh-routing-key": key})["checkout"] == name
        assert route(frontend, {"baggage": "sandboxmesh-routing-key=nosuchkey00000"}) == BASELINE
        # The public preview URL answers through the chart's preview gateway, the key set
        # at the frontend and carried on to checkout's fork.
        previews = sandbox["previewUrls"]
        assert set(previews) == {"shop", "web"}
        shop = urlsplit(previews["shop"])
        assert shop.hostname == f"shop-{key}.preview.test"
        answer = httpx.get(
            f"http://{NODE_IP}:{shop.port}/", headers={"host": shop.netloc}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        hops = {hop["service"]: hop["version"] for hop in answer.json()["hops"]}
        assert hops == {**BASELINE, "checkout": name}
        # The other asks for a sign-in at the control plane (once the agent has delivered the
        # control plane's keys: until then it says it waits for them, 503).
        web = urlsplit(previews["web"])
        signin = eventually(
            lambda: (
                response
                if (
                    response := httpx.get(
                        f"http://{NODE_IP}:{web.port}/", headers={"host": web.netloc}, timeout=10
                    )
                ).status_code
                == 302
                else None
            ),
            timeout=30,
            what="the sign-in redirect",
        )
        assert signin.headers["location"].startswith(f"{info['portalUrl']}/portal/preview/")
        # The instructions are printed just after demo.json is written.
        curl = f"curl -s -H 'baggage: sandboxmesh-routing-key={key}' {frontend}"
        eventually(lambda: curl in output.read_text(), timeout=30, what="the printed curl line")

        listed = subprocess.run(
            [sys.executable, "-m", "sandboxmesh", "sandbox", "list", "-o", "json"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        (item,) = json.loads(listed.stdout)["items"]
        assert (item["name"], item["routingKey"], item["status"]["phase"]) == (name, key, "Ready")

        # The portal opens with the owner's account from demo.json and shows the sandbox.
        with httpx.Client(base_url=info["portalUrl"], timeout=10, follow_redirects=True) as browser:
            form = browser.get("/portal/login")
            csrf = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
            assert csrf is not None
            signed_in = browser.post("/portal/login", data={
                "email": info["portalEmail"], "password": info["portalPassword"],
                "csrf_token": csrf.group(1), "next": "/portal/sandboxes",
            })  # fmt: skip
            assert signed_in.status_code == 200, signed_in.text[-500:]
            assert signed_in.url.path == "/portal/sandboxes"
            assert f">{name}<" in signed_in.text
            # Its mails land where demo.json says: a sign-up's link, in the Maildir.
            page = browser.get("/portal/signup")
            csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
            assert csrf is not None
            asked = browser.post("/portal/signup", data={
                "email": "newcomer@example.com", "csrf_token": csrf.group(1),
            })  # fmt: skip
            assert "Check your inbox" in asked.text
            mails = Path(info["mailDir"]) / "new"
            mail = eventually(
                lambda: next(iter(mails.iterdir()), None),
                timeout=30,
                what="the mail in the demo's Maildir",
            ).read_text()
            assert "To: newcomer@example.com" in mail
            assert f"{info['portalUrl']}/portal/verify/smv_" in mail

        # The components and the app are containers on the node, none a process of the demo.
        with contextlib.closing(
            Client(config=KubeConfig.from_file(home / "demo" / "kubeconfig"))
        ) as kube:
            running = {
                (pod.metadata.namespace, pod.metadata.labels.get("app.kubernetes.io/component")
                 or pod.metadata.labels.get("app") or pod.metadata.name)
                for pod in kube.list(Pod, namespace="*")
                if pod.metadata and pod.metadata.labels is not None and pod.status
                and pod.spec and pod.spec.nodeName == NODE_NAME
                and all((c.containerID or "").startswith("containerd://")
                        for c in pod.status.containerStatuses or [])
            }  # fmt: skip
        assert {
            ("sandboxmesh-system", "agent"), ("sandboxmesh-system", "operator"),
            ("sandboxmesh-system", "route-server"), ("sandboxmesh-system", "preview-gateway"),
            ("demo", "frontend"), ("demo", "checkout"),
            ("demo", "payments"),
        } <= running, running  # fmt: skip
        children = process_tree.descendants(demo.pid)
        ports = process_tree.listening_ports(children | {demo.pid})
        assert api_port in ports
        assert len(children) >= 9  # etcd ... kubelet, containerd, kube-proxy, CoreDNS, server

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=120) == 0, output.read_text()[-3000:]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert [pid for pid in children if process_tree.alive(pid)] == []
    assert process_tree.ports_listened(ports) == set()
    assert node_host.leftovers(str(tmp)) == []  # no container, shim, mount, netns, rule or device
    assert output.read_text().rstrip().endswith("stopped.")
    assert not demo_json.exists()
    assert not (home / "credentials.json").exists()  # the demo's login ends with the demo
    assert list(tmp.iterdir()) == []
