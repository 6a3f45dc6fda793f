"""Text from a counterpart, made safe to print: the one place that escapes it.

Names, paths, log tails and reasons written by a stranger (a job's output names, a provider's
refused entries, a requester's spec) can hold escape sequences that clear a screen, move the
cursor or retitle a window. Everything either CLI prints that came from the other side goes
through :func:`printable`.
"""

from __future__ import annotations

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character (C0, DEL, C1) shown as a visible escape.

    ``keep_newlines`` keeps line breaks (for multi-line log tails printed as blocks).
    """
    value = str(text)
    out = []
    for ch in value:
        code = ord(ch)
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(_ESCAPES.get(ch) or f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # a surrogate from undecodable bytes
            out.append(f"\\x{code & 0xFF:02x}")
        else:
            out.append(ch)
    return "".join(out)
