"""Logging of every long-running command: JSON lines (python-json-logger) or plain text.

Every record passes one redaction (`redact`) on its way out, whoever wrote it: our tokens
(`smu_`, `smc_`, `smi_`, `smv_`, `smw_`, in a path, a query or a message) keep their visible prefix
and lose their secret, and the values of query parameters named like secrets are dropped. So
an invitation link in an access log line, or a URL in a traceback, gives nothing away.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import datetime

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"
# <kind>_<visible prefix>_<secret>, `kind` being `sm` and a letter (the control plane's
# `domain.secrets.TokenKind`): the secret is dropped, the prefix stays for whoever reads the
# log (it is what listings show).
_TOKEN = re.compile(r"\b(sm[a-z])_([0-9a-f]{1,16})_[A-Za-z0-9_\-]+")
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:[^=&;#\s]*(?:token|secret|password|passwd|key|code|signature|session)"
    r"[^=&;#\s]*)=)[^&;#\s]*"
)
# The attributes every LogRecord has: anything else is an `extra` field a logger added.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """`text` without the secrets of tokens and of secret-named query parameters."""
    text = _TOKEN.sub(lambda found: f"{found[1]}_{found[2]}_{REDACTED}", text)
    return _SECRET_PARAMETER.sub(lambda found: f"{found[1]}{REDACTED}", text)


class Redact(logging.Filter):
    """Redacts the message, its arguments, the traceback and every string `extra` field."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # The formatter would print the traceback again from exc_info, unredacted.
            record.exc_info = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class DropInternalExtras(logging.Filter):
    """Drops the extras that are not plain data: libraries attach their internals to records
    (kopf its whole OperatorSettings, about 2 KB printed, on every line of an object's
    logger), which no reader needs. Plain extras stay (kopf's `k8s_ref` names the object)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and not _is_plain(value):
                delattr(record, name)
        return True


def _is_plain(value: object, depth: int = 0) -> bool:
    if value is None or isinstance(value, str | int | float | bool | datetime):
        return True
    if depth > 3:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_plain(v, depth + 1) for v in value)
    return False


def _plain(value: object) -> str:
    # What the encoder cannot write itself (a datetime inside a plain extra).
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def configure(level: str = "INFO", *, json: bool = True) -> None:
    """Route the root logger to stderr, as JSON lines unless `json` is False, redacted."""
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_default=_plain,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(DropInternalExtras())
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request lines of the HTTP clients would drown the component's own.
    for noisy in ("httpx", "httpx2", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn's own access log would duplicate ours (and is not JSON).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
