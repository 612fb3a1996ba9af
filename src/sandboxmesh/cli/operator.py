"""`sandboxmesh operator`: the in-cluster operator process."""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum
from pathlib import Path

import typer

from sandboxmesh.cli.logs import LogFormat, configure_logging


class PreviewScheme(StrEnum):
    HTTPS = "https"
    HTTP = "http"


_DOMAIN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _domain(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    domain = value.lower().rstrip(".")
    if len(domain) > 190 or not _DOMAIN.match(domain):
        raise typer.BadParameter(
            f"{value!r} is not a DNS domain (letters, digits, dashes and dots; at most 190 "
            "characters, to leave room for <endpoint>-<key>.)",
            param_hint="--preview-domain",
        )
    return domain


def run(
    kubeconfig: Path | None = typer.Option(
        None, envvar="KUBECONFIG", help="Kubeconfig file; in-cluster config when unset."
    ),
    namespace: list[str] = typer.Option(
        [],
        "--namespace",
        "-n",
        help="A namespace the operator may fork in (repeatable); "
        "every namespace when none is given.",
    ),
    leader_elect: bool = typer.Option(True, help="Run only while holding the leader lease."),
    lease_namespace: str = typer.Option(
        "sandboxmesh-system",
        envvar="POD_NAMESPACE",
        help="Namespace of the leader Lease; it must exist (until it does, the operator waits).",
    ),
    lease_duration: int = typer.Option(
        15, min=1, help="Seconds before an unrenewed lease may be taken."
    ),
    probe_port: int = typer.Option(
        8080, min=0, max=65535, help="Port of /healthz, /readyz, /metrics (0: off)."
    ),
    probe_host: str = typer.Option("0.0.0.0", help="Address the probe server binds."),  # noqa: S104
    resync: float = typer.Option(
        600.0, min=1, help="Seconds between full resyncs of each sandbox."
    ),
    concurrent: int = typer.Option(
        16, "--concurrent-reconciles", min=1, help="Sandboxes reconciled at once."
    ),
    drain: float = typer.Option(
        2.0, min=0, help="Seconds a deleted sandbox stays unroutable before its objects go."
    ),
    preview_domain: str | None = typer.Option(
        None,
        help="The preview gateway's domain (preview URLs are <endpoint>-<key>.DOMAIN); "
        "no preview URLs when unset.",
    ),
    preview_scheme: PreviewScheme = typer.Option(
        PreviewScheme.HTTPS, help="The scheme of preview URLs."
    ),
    preview_port: int | None = typer.Option(
        None, min=1, max=65535, help="The port in preview URLs, when not the scheme's own."
    ),
    log_level: str = typer.Option("INFO", help="Log level."),
    log_format: LogFormat = typer.Option(LogFormat.JSON, help="Log format."),
) -> None:
    """Reconcile Sandbox objects into forks of baseline workloads."""
    # Imported here: kopf and aiohttp are heavy, and every other command would pay for them.
    from sandboxmesh import operator

    configure_logging(log_level, log_format)
    renew_deadline = max(1.0, lease_duration * 2 / 3)
    settings = operator.OperatorSettings(
        forking=operator.ForkingSettings(
            namespaces=frozenset(namespace) if namespace else None,
            drain_seconds=drain,
            resync_seconds=resync,
            concurrent_reconciles=concurrent,
            previews=operator.PreviewSettings(
                domain=_domain(preview_domain), scheme=preview_scheme.value, port=preview_port
            ),
        ),
        leader_election=operator.LeaderElectionSettings(
            enabled=leader_elect,
            namespace=lease_namespace,
            lease_duration_seconds=lease_duration,
            renew_deadline_seconds=renew_deadline,
            retry_period_seconds=max(0.2, min(2.0, lease_duration / 5)),
        ),
        probes=operator.ProbeSettings(host=probe_host, port=probe_port),
        kubeconfig=kubeconfig,
    )
    raise typer.Exit(asyncio.run(operator.run_operator(settings)))
