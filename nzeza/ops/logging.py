"""Structured logging: JSON lines to a file, key=value on a terminal, correlation ids, redaction.

Correlation ids (session id, order id, ...) live in a `contextvars` mapping, so every log line
written inside `bind(session_id=...)` carries them, across `await` points and tasks that copy
the context. Every handler installed here has the redaction filter: messages, arguments and
exception text are rendered first and then masked, so a secret cannot leak through any of them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nzeza.secrets import redact

_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "nzeza_log_context", default=_EMPTY
)

_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "context"}


@contextlib.contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Attach correlation ids (e.g. session_id, order_id) to every log line in this context."""
    merged = {**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    return dict(_context.get())


class RedactingFilter(logging.Filter):
    """Renders the record's message (and exception) now and masks secrets in the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        record.context = current_context()
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = dict(getattr(record, "context", {}))
    for key, value in vars(record).items():
        if key not in _STD_ATTRS:
            out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO), level, logger, msg, correlation ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(_extras(record))
        if record.exc_text:
            doc["exc"] = record.exc_text
        return redact(json.dumps(doc, default=str))


class KeyValueFormatter(logging.Formatter):
    """Readable terminal lines: `HH:MM:SS level logger: message key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        pairs = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname.lower():7s} {record.name}: {record.getMessage()}"
        if pairs:
            line += f"  {pairs}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return redact(line)


def configure_logging(
    level: str | int = "INFO",
    json_file: str | Path | None = None,
    console: bool = True,
    stream: Any = None,
    console_json: bool = False,
) -> logging.Logger:
    """Configure the `nzeza` logger: terminal key=value (JSON lines with `console_json`) and/or
    JSON lines appended to `json_file`. Every handler redacts secrets."""
    logger = logging.getLogger("nzeza")
    logger.setLevel(level if isinstance(level, int) else level.upper())
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if console:
        term = logging.StreamHandler(stream or sys.stderr)
        term.setFormatter(JsonFormatter() if console_json else KeyValueFormatter())
        term.addFilter(RedactingFilter())
        logger.addHandler(term)
    if json_file is not None:
        path = Path(json_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setFormatter(JsonFormatter())
        fh.addFilter(RedactingFilter())
        logger.addHandler(fh)
    logger.propagate = False
    return logger


def get_logger(name: str) -> logging.Logger:
    """A child of the `nzeza` logger (`get_logger(__name__)`)."""
    return logging.getLogger(name if name.startswith("nzeza") else f"nzeza.{name}")


__all__ = [
    "JsonFormatter",
    "KeyValueFormatter",
    "RedactingFilter",
    "bind",
    "configure_logging",
    "current_context",
    "get_logger",
]
