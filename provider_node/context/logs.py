"""Structured log lines on stderr: one line per job step, readable by people and machines.

Text (default) is logfmt::

    ts=2025-11-21T12:00:01.532Z level=info event=step job=7 step=claimed elapsed=0.41 tx=0x…

``--log-format json`` prints the same fields as one JSON object per line. Fields are passed
as ``extra={"fields": {...}}``; :func:`emit` is the short form used across the node.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from jobmarket.cli import json_text
from jobmarket.terminal import printable
from provider_node import metrics

ROOT_LOGGER = "provider_node"
_RESERVED = ("ts", "level", "event")


class LogfmtFormatter(logging.Formatter):
    """``key=value`` pairs; values with spaces, quotes, ``=`` or control characters are quoted
    as JSON strings (which escapes the controls: a spec's text never reaches a terminal raw)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json_text(_fields(record), default=str, separators=(",", ":"))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    fields: dict[str, Any] = {
        "ts": f"{stamp}.{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "event": record.getMessage() if hasattr(record, "fields") else "log",
    }
    extra = getattr(record, "fields", None)
    if extra is None:
        if record.name != ROOT_LOGGER:
            fields["logger"] = record.name
        fields["msg"] = record.getMessage()
    else:
        fields.update({k: v for k, v in extra.items() if k not in _RESERVED and v is not None})
    if record.exc_info:
        fields["error"] = logging.Formatter().formatException(record.exc_info).splitlines()[-1]
    return fields


def _logfmt_value(value: Any) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    if text == "" or any(ch in text for ch in ' "=') or printable(text) != text:
        return json_text(text)
    return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send the node's (and the executor's) log records to stderr in the chosen format."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _StderrHandler):  # configured before (tests run it in-process)
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(ROOT_LOGGER).setLevel(level)


def emit(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event, e.g. ``emit(log, "step", job=3, step="claimed")``."""
    logger.log(level, event, extra={"fields": fields})


# One outage (Docker down, the RPC resetting connections) makes every retry fail the same way:
# its warning is written once per window, with the count of repeats left out meanwhile.
REPEAT_WINDOW_S = 30.0


class _Repeats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, ...], tuple[float, int]] = {}

    def admit(self, key: tuple[str, ...], now: float) -> int | None:
        """None to stay quiet; else how many repeats were left out since the last line."""
        with self._lock:
            since, skipped = self._seen.get(key, (-1e18, 0))
            if now - since < REPEAT_WINDOW_S:
                self._seen[key] = (since, skipped + 1)
                return None
            self._seen[key] = (now, 0)
            return skipped


_repeats = _Repeats()


def emit_repeated(
    logger: logging.Logger,
    event: str,
    level: int,
    key: tuple[str, ...],
    *,
    cause: BaseException | None = None,
    **fields: Any,
) -> None:
    """:func:`emit`, but the same ``(event, *key)`` at most once per :data:`REPEAT_WINDOW_S`;
    the next line says how many were left out (``repeated=N``). ``cause``, the failure being
    reported, is counted every time (``jobmarket_node_errors_total`` by kind) and is the line's
    ``error`` field."""
    if cause is not None:
        metrics.error_seen(cause)
        fields.setdefault("error", error_field(cause))
    skipped = _repeats.admit((event, *key), time.monotonic())
    if skipped is not None:
        emit(logger, event, level, **fields, repeated=skipped or None)


def first_line(err: BaseException, limit: int = 200) -> str:
    """An error's message cut to one short line (RPC errors can carry whole JSON documents),
    or its type's name if it has none: for log fields and journaled reasons."""
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:limit]


def error_field(err: BaseException) -> str:
    """``Type: first line``, the ``error=`` field of a log line about an unexpected failure."""
    name, message = type(err).__name__, first_line(err)
    return name if message == name else f"{name}: {message}"
