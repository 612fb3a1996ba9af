"""The words of each mail the control plane sends: plain text, one function per mail."""

from __future__ import annotations

from datetime import datetime

from sandboxmesh.controlplane.mail import Mail

_SIGNATURE = "\n-- \nSandboxMesh: preview environments for every pull request.\n"


def _until(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def confirm_address(
    to: str,
    link: str,
    *,
    expires_at: datetime,
    organization: str | None = None,
    joining: str | None = None,
) -> Mail:
    """The link that proves `to` is the reader's, and what opening it does."""
    effects = ["lets you choose your SandboxMesh password (a new one, if you had one)"]
    if organization:
        effects.append(f"creates the organisation {organization}, with you as its owner")
    if joining:
        effects.append(f"makes you a member of {joining}")
    steps = "".join(f"  - {effect}\n" for effect in effects)
    return Mail(
        to=to,
        subject="Confirm your email address for SandboxMesh",
        text=(
            f"Someone, hopefully you, asked to use {to} with SandboxMesh.\n\n"
            f"Open this link to confirm the address:\n\n  {link}\n\n"
            f"There, confirming it:\n{steps}\n"
            f"The link works once, until {_until(expires_at)}. If this was not you, ignore "
            "this mail: nothing changes until the link is opened.\n" + _SIGNATURE
        ),
    )


def invitation(
    to: str, link: str, *, organization: str, role: str, invited_by: str, expires_at: datetime
) -> Mail:
    return Mail(
        to=to,
        subject=f"You are invited to {organization} on SandboxMesh",
        text=(
            f"{invited_by} invited {to} to the organisation {organization} on SandboxMesh, "
            f"as {role}.\n\n"
            f"Open this link to accept:\n\n  {link}\n\n"
            f"It works once, until {_until(expires_at)}. You will sign in, or create your "
            "account and confirm this address, on the way. If you do not know why you got "
            "this, ignore it.\n" + _SIGNATURE
        ),
    )
