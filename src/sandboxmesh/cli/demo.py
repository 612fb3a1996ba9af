"""`sandboxmesh demo`: the whole system on one machine, in the foreground until Ctrl-C.

The command only; `demo_run` holds the orchestration and is imported when the demo runs, so
that every other command does not pay for importing the route server, Envoy's protos and
FastAPI (over a second of start-up, on every CLI call and every process a test starts).
"""

from __future__ import annotations

import typer


def demo(
    nodes: int = typer.Option(
        1, min=0, max=100, help="Simulated (KWOK) nodes beside the real one, for scale."
    ),
    port: int = typer.Option(8080, min=1, max=65535, help="The control plane's port."),
    frontend_port: int = typer.Option(
        8000,
        min=1,
        max=65535,
        help="The frontend's NodePort: it answers at http://10.123.0.1:PORT/ (the node's address).",
    ),
) -> None:
    """Start the whole system on this machine and keep it running until Ctrl-C."""
    from sandboxmesh.cli import demo_run

    demo_run.run(nodes, port, frontend_port)
