"""Counts one user's requests in a local cluster's audit log (`ClusterConfig(audit_log=True)`).

A benchmark runs the component it measures as a user of its own (`extra_admins`), so its own
requests never mix with the component's. Each request is counted once, when its response is
complete (a watch when it ends). Keys read "verb resource[/subresource]", split by client:
kopf's own requests (its user agent is kopf/VERSION) and everything else (lightkube's).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any


def count_requests(audit_log: Path, user: str, until: datetime | None = None) -> dict[str, Any]:
    """{"total": N, "kopf": {"verb resource": n, ...}, "client": {...}} for `user`'s requests
    received before `until` (a timezone-aware time; all of them when None)."""
    by_client: dict[str, Counter[str]] = {"kopf": Counter(), "client": Counter()}
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") != user:
            continue
        received = datetime.fromisoformat(event["requestReceivedTimestamp"])
        if until is not None and received > until:
            continue
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", event.get("requestURI", "?"))
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        client = "kopf" if event.get("userAgent", "").startswith("kopf/") else "client"
        by_client[client][f"{event['verb']} {resource}"] += 1
    return {
        "total": sum(sum(counts.values()) for counts in by_client.values()),
        **{client: dict(counts.most_common()) for client, counts in by_client.items()},
    }
