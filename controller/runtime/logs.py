"""Structured logging: JSON or text lines, with per-task context fields from contextvars.

The manager binds `controller`, `key` and `reconcile_id` around each reconcile pass with
`log_context(...)`; every line logged inside the pass (by any module, with plain
`logging`) carries them, so one pass can be followed through interleaved concurrent work.
Extra fields passed as `log.info(..., extra={...})` are emitted too.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

_FIELDS: ContextVar[dict[str, Any]] = ContextVar("log_fields", default={})  # noqa: B039

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Adds fields to every log line of the current task while the block runs."""
    token = _FIELDS.set({**_FIELDS.get(), **fields})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def context_fields() -> dict[str, Any]:
    return dict(_FIELDS.get())


def new_reconcile_id() -> str:
    """A short random id naming one reconcile pass."""
    return uuid.uuid4().hex[:12]


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context and `extra=` fields of a record (context first, extras override)."""
    fields = dict(getattr(record, "ctx", None) or {})
    fields.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD | {"ctx"}})
    return fields


class ContextFilter(logging.Filter):
    """Copies the task's context fields onto each record as it is created."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "ctx"):
            record.ctx = _FIELDS.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(record_fields(record))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        text = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        text += f"  {fields}" if fields else ""
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(fmt: str = "json", level: str = "info", stream: TextIO | None = None) -> None:
    """Configures the root logger once for the process (replacing earlier handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The HTTP stack logs every request at debug; it drowns the operator's own lines.
    for noisy in ("aiohttp", "kubernetes_asyncio", "asyncio"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))
