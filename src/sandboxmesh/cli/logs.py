"""The log format option of the long-running commands: JSON lines by default, text for people."""

from __future__ import annotations

from enum import StrEnum

from sandboxmesh import logs


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.JSON) -> None:
    logs.configure(level, json=fmt is LogFormat.JSON)
