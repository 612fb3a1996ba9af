"""What the demo tells its user: `$SANDBOXMESH_HOME/demo.json` and the lines to try."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandboxmesh.routing import BAGGAGE_MEMBER, ROUTING_KEY_HEADER

UNKNOWN_KEY = "nosuchkey00000"


@dataclass(frozen=True)
class DemoSandbox:
    name: str
    routing_key: str
    #: Its preview URLs, by endpoint name.
    preview_urls: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoInfo:
    api_url: str
    #: The portal is served by the control plane.
    portal_url: str
    #: The organisation owner's portal account (the password is generated per run).
    portal_email: str
    portal_password: str
    token: str
    frontend_url: str
    sandboxes: tuple[DemoSandbox, ...]
    #: The Maildir the portal's mails land in (its `new/` holds one file per mail).
    mail_dir: Path

    def document(self) -> dict[str, Any]:
        return {
            "apiUrl": self.api_url,
            "portalUrl": self.portal_url,
            "portalEmail": self.portal_email,
            "portalPassword": self.portal_password,
            "token": self.token,
            "frontendUrl": self.frontend_url,
            "sandboxes": [
                {"name": s.name, "routingKey": s.routing_key, "previewUrls": s.preview_urls}
                for s in self.sandboxes
            ],
            "mailDir": str(self.mail_dir),
        }


def write(path: Path, info: DemoInfo) -> None:
    """Write demo.json whole (a reader never sees half of it), readable by the owner only:
    it holds an API token and a password."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(info.document(), file, indent=2)
        file.write("\n")
    partial.replace(path)


def _preview_lines(info: DemoInfo) -> list[str]:
    """How to open the preview URLs: no DNS serves their domain, so curl is told where the
    gateway is, and a browser is started that resolves the domain to the node."""
    lines: list[str] = []
    node = urlsplit(info.frontend_url).hostname or ""
    for sandbox in info.sandboxes:
        for name, url in sandbox.preview_urls.items():
            parts = urlsplit(url)
            port = parts.port or 80
            if name == "shop":
                lines.append(f"  curl -s --resolve {parts.hostname}:{port}:{node} {url}")
            else:
                domain = (parts.hostname or "").partition(".")[2]
                lines += [
                    f"  # {url} asks for a portal sign-in; in a browser that finds the node:",
                    f"  chromium --host-resolver-rules='MAP *.{domain} {node}' {url}",
                ]
    return lines


def instructions(
    info: DemoInfo, *, cli: str, kubectl: str, kubeconfig: Path, namespace: str, home: Path
) -> str:
    lines = [
        "",
        "The SandboxMesh demo is up.",
        f"  control plane API  {info.api_url}",
        f"  portal             {info.portal_url} (log in as {info.portal_email}, "
        "password in demo.json)",
        f"  frontend           {info.frontend_url} (a NodePort, through the routers)",
        f"  mail               {info.mail_dir / 'new'} (every mail the portal sends: "
        "sign-up links, invitations; a Maildir)",
    ]
    for sandbox in info.sandboxes:
        lines.append(
            f"  sandbox            {sandbox.name}, routing key {sandbox.routing_key} "
            f"(forks {namespace}/checkout with a message of its own)"
        )
        for name, url in sandbox.preview_urls.items():
            lines.append(f"  preview {name:<11}{url}")
    lines += [
        f"  details            {home / 'demo.json'}; logs in {home / 'demo'}",
        "",
        "Every hop says which version served it. Try:",
        f"  curl -s {info.frontend_url}",
    ]
    for sandbox in info.sandboxes:
        key = sandbox.routing_key
        lines += [
            f"  curl -s -H 'baggage: {BAGGAGE_MEMBER}={key}' {info.frontend_url}",
            f"  curl -s -H '{ROUTING_KEY_HEADER}: {key}' {info.frontend_url}",
        ]
    lines += [
        f"  curl -s -H 'baggage: {BAGGAGE_MEMBER}={UNKNOWN_KEY}' {info.frontend_url}",
    ]
    lines += _preview_lines(info)
    lines += [
        "",
        "You are logged in, so from another terminal:",
        f"  {cli} sandbox list",
    ]
    lines += [f"  {cli} sandbox get {s.name}" for s in info.sandboxes]
    lines += [
        f"  export KUBECONFIG={kubeconfig}",
        f"  {kubectl} get sandboxes",
        f"  {kubectl} -n {namespace} get deployments,services,pods",
        "",
        f"API token of the demo's owner: {info.token}",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)
