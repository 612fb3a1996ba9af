"""The action's last step: the sandbox `sandboxmesh sandbox apply -o json` printed, as a job
summary ($GITHUB_STEP_SUMMARY) and step outputs ($GITHUB_OUTPUT).

Standard library only: it runs on the runner's python3, whichever Python the CLI lives in.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary(sandbox: dict) -> str:
    name = sandbox["name"]
    status = sandbox.get("status") or {}
    urls = status.get("previewUrls") or []
    lines = [
        f"### Sandbox `{name}` is {status.get('phase', 'applied')}",
        "",
        f"Team `{sandbox['team']}`, cluster `{sandbox['cluster']}`, "
        f"routing key `{sandbox['routingKey']}`"
        + (f", expires {status['expiresAt']}" if status.get("expiresAt") else "")
        + ".",
        "",
    ]
    if urls:
        lines += ["| Preview | URL |", "| --- | --- |"]
        lines += [f"| {_cell(u['name'])} | <{_cell(u['url'])}> |" for u in urls]
    else:
        lines.append(
            "No preview URLs: the sandbox names no endpoints, or its cluster's preview "
            "gateway is off (docs/preview-urls.md)."
        )
    return "\n".join(lines) + "\n"


def main(path: str) -> None:
    sandbox = json.loads(Path(path).read_text())
    urls = [
        {"name": u["name"], "url": u["url"]}
        for u in (sandbox.get("status") or {}).get("previewUrls") or []
    ]
    with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
        out.write(summary(sandbox))
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"name={sandbox['name']}\n")
        out.write(f"routing-key={sandbox['routingKey']}\n")
        out.write(f"preview-urls={json.dumps(urls)}\n")
    for url in urls:
        print(f"{url['name']}: {url['url']}")


if __name__ == "__main__":
    main(sys.argv[1])
