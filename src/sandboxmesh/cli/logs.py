"""Logging for the long-running commands: JSON lines by default, plain text for people."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from enum import StrEnum

from pythonjsonlogger.json import JsonFormatter


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


def _plain(value: object) -> str:
    # Libraries attach internal objects as extras (kopf its settings dataclass, which holds
    # queues): print them, never deep-copy them the way the default encoder does dataclasses.
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.JSON) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_default=_plain,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request lines of the HTTP clients would drown the operator's own.
    for noisy in ("httpx", "httpx2", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
