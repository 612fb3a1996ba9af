"""`-o json|yaml|table`: how read commands print what the API answered."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import typer
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


OutputOption = typer.Option(Format.TABLE, "--output", "-o", help="table, json or yaml.")

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def field(*path: str) -> Callable[[dict[str, Any]], Any]:
    def get(item: dict[str, Any]) -> Any:
        value: Any = item
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return get


def wire(body: BaseModel) -> dict[str, Any]:
    """`body` as the API's JSON has it (camelCase, times as text): what `-o json` prints."""
    return body.model_dump(mode="json", by_alias=True)


def emit(
    data: BaseModel | dict[str, Any], fmt: Format, columns: Sequence[Column] | None = None
) -> None:
    """Print `data` (an API body, or a list under `items`) in the chosen format.

    Bodies print as the API's JSON has them, and columns read that JSON: a table shows the
    same text for a value as `-o json` does.
    """
    if isinstance(data, BaseModel):
        data = wire(data)
    if fmt is Format.JSON:
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    if fmt is Format.YAML:
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
        return
    rows = data["items"] if isinstance(data, dict) and "items" in data else [data]
    if columns is None:
        columns = [(key, field(key)) for key in (rows[0] if rows else {})]
    table = Table(box=None, pad_edge=False, show_edge=False)
    for header, _ in columns:
        table.add_column(header.upper(), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(get(row)) for _, get in columns))
    Console(width=200, soft_wrap=True).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)
