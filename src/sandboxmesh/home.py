"""SANDBOXMESH_HOME: where the CLI keeps its login, the embedded database and dev clusters."""

from __future__ import annotations

import os
from pathlib import Path


def sandboxmesh_home() -> Path:
    """`$SANDBOXMESH_HOME`, by default `~/.sandboxmesh` (DESIGN.md §5); created on first use."""
    home = Path(os.environ.get("SANDBOXMESH_HOME", "~/.sandboxmesh")).expanduser()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home
