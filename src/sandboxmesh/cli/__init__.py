"""The Typer CLI; `sandboxmesh.cli.app:main` is the console script."""
