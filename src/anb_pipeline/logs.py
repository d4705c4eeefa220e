"""Structured logs: one JSON object per line, carrying the video, step, message and attempt.

Whatever a step or the framework logs while a message is processed is tagged with that
message's fields (the LogContext middleware binds them), so one grep for a video id
follows it from upload to publish across the web app and every worker.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .settings import Settings

LOG_FIELDS = ("video_id", "step", "message_id", "attempt")
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "anb_log", default=MappingProxyType({})
)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Tag every log line emitted inside the block with ``fields``."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Add ``fields`` to every later log record of this context; returns the token for
    ``unbind``.
    """
    return _context.set({**_context.get(), **fields})


def unbind(token: contextvars.Token[Mapping[str, Any]]) -> None:
    """Restore the fields bound before ``bind`` returned ``token``."""
    _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record, unless the call passed its own ``extra``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Copy the bound fields onto ``record``; always keeps it (returns True)."""
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ms), ``level``, ``logger``, ``message``,
    ``process``, the bound fields that are set and ``exception`` when there is one.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None and value != "":
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(settings: Settings) -> None:
    """Apply ``ANB_LOG_FORMAT`` to the root logger's handlers (adding one if none exists)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
        root.setLevel(logging.INFO)
    for handler in root.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
