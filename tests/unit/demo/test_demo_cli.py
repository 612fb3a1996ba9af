"""`sandboxmesh demo` refuses, in one line and before starting anything, what cannot work."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandboxmesh.cli.app import app
from sandboxmesh.cli.errors import CliError
from sandboxmesh.dev.demo import run


def test_a_port_in_use_is_one_line_error_naming_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    option = "--port"
    monkeypatch.setenv("SANDBOXMESH_HOME", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["demo", option, str(port)])
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error:")
    assert f"port {port}" in line
    assert option in line
    assert list(tmp_path.iterdir()) == []  # nothing was started or written


def test_one_port_for_the_api_and_the_front_door_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front door is a NodePort on the node's address, where the control plane listens."""
    monkeypatch.setenv("SANDBOXMESH_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["demo", "--port", "18123", "--frontend-port", "18123"])
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert line == (
        "error: --frontend-port 18123 is the control plane's --port too: choose another"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_port_taken_on_any_address_is_refused_in_one_line() -> None:
    """The control plane listens on the node's bridge address, which exists only once the
    cluster is up: a port taken on another address than 127.0.0.1 must be found too."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CliError, match=f"port {port} is not free.*--port"):
            run._check_free(port, "--port")
