"""`sandboxmesh admin bootstrap`: the first organisation and its owner, straight in the store."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum

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
    database_url: str | None = DatabaseUrlOption,
    output: Format = OutputOption,
) -> None:
    """Create an organisation and its owner; prints the owner's API token once."""
    if not re.fullmatch(names.DNS_LABEL_PATTERN, org) or len(org) > 63:
        raise CliError(f"--org {org!r} is not a DNS label (lowercase letters, digits, '-')")
    if "@" not in email:
        raise CliError(f"--email {email!r} is not an email address")
    from sandboxmesh.controlplane import errors
    from sandboxmesh.controlplane.store.engine import UnsupportedDatabase

    settings = settings_with(database_url)
    try:
        token = asyncio.run(
            _bootstrap(
                settings.database.resolved_url(),
                org,
                email,
                plan,
                timedelta(days=settings.tokens.default_ttl_days),
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


async def _bootstrap(url: str, org: str, email: str, plan: Plan, ttl: timedelta) -> str:
    from sandboxmesh.controlplane.domain import plans
    from sandboxmesh.controlplane.repository import organizations
    from sandboxmesh.controlplane.repository.transaction import Tx
    from sandboxmesh.controlplane.store import migrate
    from sandboxmesh.controlplane.store.engine import Store, create_engine

    store = Store(create_engine(url))
    try:
        await migrate.upgrade(store.engine)
        async with store.transaction() as connection:
            tx = Tx(conn=connection, now=datetime.now(UTC))
            _, issued = await organizations.bootstrap(
                tx, name=org, owner_email=email, plan=plans.Plan(plan.value), token_ttl=ttl
            )
        return issued.plaintext
    finally:
        await store.dispose()
