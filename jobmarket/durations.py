"""Human durations: ``10m``, ``1h30m``, ``90s``, ``2d`` in, ``in 9m 12s`` / ``3m ago`` out.

Deadlines on chain are seconds; people think in minutes and hours. Every duration a user types
goes through :func:`parse_duration`, and every time a tool shows goes through the formatters
here, so the CLI, the ape scripts and the JSON output all speak the same units.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from jobmarket.errors import InvalidInput

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")


def parse_duration(text: str | int, *, what: str = "duration") -> int:
    """Seconds in ``text``: a sum of ``<n><unit>`` parts (s, m, h, d, w) or a bare number of s."""
    if isinstance(text, int):
        seconds = text
    else:
        value = text.strip().lower()
        if value.isdigit():
            seconds = int(value)
        elif _WHOLE.match(value):
            seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(value))
        else:
            raise InvalidInput(
                f"cannot read the {what} {text!r}",
                "write it like 90s, 10m, 1h30m or 2d (units s, m, h, d, w)",
            )
    if seconds <= 0:
        raise InvalidInput(f"the {what} must be longer than zero", "give e.g. 10m")
    return seconds


def format_duration(seconds: float) -> str:
    """``1h 5m``, ``9m 12s``, ``42s``: the two largest units, rounded down."""
    total = max(0, int(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            count, total = divmod(total, size)
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def format_relative(timestamp: int, now: int) -> str:
    """``in 9m 12s`` for the future, ``3m ago`` for the past, ``now`` within a second."""
    delta = timestamp - now
    if delta == 0:
        return "now"
    return f"in {format_duration(delta)}" if delta > 0 else f"{format_duration(-delta)} ago"


def format_time(timestamp: int) -> str:
    """A chain timestamp as UTC wall-clock time (``2026-11-21 12:34:56 UTC``)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(timestamp: int) -> str:
    """A chain timestamp in ISO 8601 (for JSON output)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
