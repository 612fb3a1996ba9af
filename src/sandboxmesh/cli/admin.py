"""`sandboxmesh admin ...`: what the owners of an installation do straight in the store:
`bootstrap` (the first organisation and its owner), `org-limit` (a limit beyond the plan's)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import typer

from sandboxmesh.cli.errors import CliError
from sandboxmesh.cli.output import Format, OutputOption, emit
from sandboxmesh.cli.server import DatabaseUrlOption, settings_with
from sandboxmesh.spec import names


class Plan(StrEnum):
    """The plans of `sandboxmesh.controlplane.domain.plans` (checked by a test), named here so
    the CLI does not import the control plane to parse its options."""

    FREE = "free"
    TEAM = "team"
    ENTERPRISE = "enterprise"


app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Administer the control plane.")


@app.command("bootstrap")
def bootstrap(
    org: str = typer.Option(..., "--org", help="The organisation's name (a DNS label)."),
    email: str = typer.Option(..., "--email", help="The owner's email."),
    plan: Plan = typer.Option(Plan.TEAM, "--plan", help="free, team or enterprise."),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        help="Also give the owner a portal account, with the password in this file "
        "(a file, so the password stays out of the command line and shell history).",
    ),
    database_url: str | None = DatabaseUrlOption,
    output: Format = OutputOption,
) -> None:
    """Create an organisation and its owner; prints the owner's API token once."""
    if not re.fullmatch(names.DNS_LABEL_PATTERN, org) or len(org) > 63:
        raise CliError(f"--org {org!r} is not a DNS label (lowercase letters, digits, '-')")
    if "@" not in email:
        raise CliError(f"--email {email!r} is not an email address")
    from sandboxmesh.controlplane import errors
    from sandboxmesh.controlplane.bootstrap import bootstrap as bootstrap_organization
    from sandboxmesh.controlplane.domain import plans
    from sandboxmesh.controlplane.store.engine import UnsupportedDatabase

    password_hash = None if password_file is None else _password_hash(password_file)

    settings = settings_with(database_url)
    try:
        token = asyncio.run(
            bootstrap_organization(
                settings.database.resolved_url(),
                org=org,
                owner_email=email,
                plan=plans.Plan(plan.value),
                token_ttl=timedelta(days=settings.tokens.default_ttl_days),
                password_hash=password_hash,
            )
        )
    except UnsupportedDatabase as error:
        raise CliError(str(error)) from error
    except errors.ApiError as error:
        raise CliError(error.message) from error
    result = {"organization": org, "owner": email, "plan": plan.value, "token": token}
    if output is Format.TABLE:
        typer.echo(f"organization {org!r} created with owner {email} ({plan.value} plan)")
        typer.echo("API token (shown once, store it now):")
        typer.echo(token)
        return
    emit(result, output)


@app.command("org-limit")
def org_limit(
    org: str = typer.Option(..., "--org", help="The organisation's name."),
    max_sandboxes: int | None = typer.Option(
        None, "--max-sandboxes", min=0, max=1_000_000, help="Its concurrent-sandbox limit."
    ),
    plan_default: bool = typer.Option(
        False, "--plan-default", help="Remove its explicit limit: the plan's applies."
    ),
    database_url: str | None = DatabaseUrlOption,
    output: Format = OutputOption,
) -> None:
    """Set an organisation's limit beyond what its plan lets its admins set."""
    if (max_sandboxes is None) == (not plan_default):
        raise CliError("give either --max-sandboxes N or --plan-default")
    from sandboxmesh.controlplane import errors
    from sandboxmesh.controlplane.domain import plans
    from sandboxmesh.controlplane.installation import set_organization_limit
    from sandboxmesh.controlplane.store.engine import UnsupportedDatabase

    settings = settings_with(database_url)
    try:
        organization = asyncio.run(
            set_organization_limit(
                settings.database.resolved_url(), org=org, max_sandboxes=max_sandboxes
            )
        )
    except UnsupportedDatabase as error:
        raise CliError(str(error)) from error
    except errors.ApiError as error:
        raise CliError(error.message) from error
    effective = plans.organization_limit(organization.plan, organization.max_sandboxes)
    result = {
        "organization": organization.name,
        "plan": organization.plan.value,
        "maxSandboxes": organization.max_sandboxes,
        "effectiveMaxSandboxes": effective,
    }
    if output is Format.TABLE:
        typer.echo(
            f"organization {organization.name!r} ({organization.plan.value} plan) may run "
            f"{effective} sandboxes at once"
        )
        return
    emit(result, output)


def _password_hash(path: Path) -> str:
    from sandboxmesh.controlplane import passwords

    try:
        password = path.read_text().removesuffix("\n")
    except OSError as error:
        raise CliError(f"--password-file {path}: {error.strerror or error}") from error
    problem = passwords.problem(password)
    if problem is not None:
        raise CliError(f"--password-file {path}: {problem}")
    return asyncio.run(passwords.hash_password(password))
