"""Byte counts for people: ``1 GiB`` in messages, ``--max-size 500MB`` on command lines."""

from __future__ import annotations

import re

from jobmarket.errors import InvalidInput

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)", re.ASCII)
MAX_SIZE_BYTES = 1 << 60
"""Larger than any filesystem; keeps parsed sizes in a range every API can take."""


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Bytes from ``1073741824``, ``500MB``, ``1 GiB`` or ``2g`` (k/m/g/t are powers of 1000,
    KiB/MiB/GiB/TiB of 1024)."""
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.fullmatch(text.strip().lower())
        if match is None or match.group(2) not in _UNITS:
            raise InvalidInput(
                f"cannot read the {what} {text!r}", "write a number of bytes, or e.g. 500MB, 2GiB"
            )
        value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if not 0 < value <= MAX_SIZE_BYTES:
        raise InvalidInput(
            f"the {what} {text!r} is out of range", "give a size above zero, such as 2GiB"
        )
    return value


def format_size(count: int) -> str:
    """``512 bytes``, ``3.5 KiB``, ``64 GiB``: binary units, at most one decimal."""
    if count < 1024:
        return f"{count:,} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if value < 1024 or unit == "EiB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")
