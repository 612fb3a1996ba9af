"""CLI errors that know their exit code and print themselves as one line (click's habit)."""

from __future__ import annotations

from typing import IO

import typer

# Typer vendors click since 0.29 and only catches (and prints) its own ClickException:
# a plain click.ClickException escapes as a traceback.
from typer._click.exceptions import ClickException


class CliError(ClickException):
    """A failure the user can fix: printed as `error: <first line>`, exits with `exit_code`.

    Subclasses set their own `exit_code` for failures a script may want to tell apart.
    """

    exit_code = 1

    def show(self, file: IO[str] | None = None) -> None:
        # One line, so a script or a person sees exactly what to fix.
        lines = self.message.strip().splitlines() or ["failed"]
        typer.echo(f"error: {lines[0]}", file=file, err=file is None)
