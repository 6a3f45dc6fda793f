"""The one rule book for names and paths that cross between requester and provider.

A name a requester writes into a spec (an input mount, an output path, an env variable), a
name a job leaves in ``/out``, a name inside a UnixFS directory and a path in a result
manifest all end up as a file on someone's disk, a line in someone's terminal, or both. Every
stage that handles them — the spec schema, the node's decision, staging, the collector, the
publisher, the manifest schema, the requester's download — applies the rules below, so what
passes the first check can never fail a later one.

Rules, all in bytes of UTF-8 because that is what filesystems limit:

* a **component** is 1 to 255 bytes (Linux ``NAME_MAX``), valid UTF-8, not ``.`` or ``..``, and
  holds no ``/``, no backslash and no control character (C0, DEL, C1);
* a **path** is components joined by ``/``: relative, at most :data:`MAX_PATH_BYTES` bytes
  and :data:`MAX_PATH_DEPTH` components, so ``/in/<path>`` and ``/out/<path>`` (and the node's
  host folder in front of them) stay far below ``PATH_MAX``;
* an **environment variable name** is ``[A-Za-z_][A-Za-z0-9_]*``, at most 255 bytes; a value
  holds no NUL.

Functions here raise :class:`ValueError` with a message that completes "<field> …", so pydantic
validators and plain callers report the same words.
"""

from __future__ import annotations

import re

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_PATH_DEPTH = 64
MAX_ENV_NAME_BYTES = 255
MAX_ENV_VALUE_CHARS = 4096

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def name_problem(name: str | bytes) -> str | None:
    """Why ``name`` is not a valid path component, or None when it is.

    ``bytes`` (a UnixFS link name, a directory entry read with ``os.listdir(bytes)``) must be
    UTF-8; ``str`` must not hold surrogates (undecodable bytes smuggled through
    ``os.fsdecode``).
    """
    if isinstance(name, bytes | bytearray):
        try:
            text = bytes(name).decode("utf-8")
        except UnicodeDecodeError:
            return "is not valid UTF-8"
    else:
        text = name
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if not encoded:
        return "must not be empty"
    if text in (".", ".."):
        return "must not be '.' or '..'"
    if "/" in text:
        return "must not contain '/'"
    if "\\" in text:
        return "must not contain a backslash"
    if any(_is_control(ch) for ch in text):
        return "must not contain control characters (NUL, newline, escape, …)"
    if len(encoded) > MAX_NAME_BYTES:
        return f"is {len(encoded)} bytes; a name may have at most {MAX_NAME_BYTES} bytes"
    return None


def path_problem(path: str, max_bytes: int = MAX_PATH_BYTES) -> str | None:
    """Why ``path`` is not a valid relative path, or None when it is."""
    if not path:
        return "must not be empty"
    if path.startswith("/"):
        return "must be relative (no leading /)"
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > max_bytes:
        return f"is {size} bytes; a path may have at most {max_bytes} bytes"
    parts = path.split("/")
    if len(parts) > MAX_PATH_DEPTH:
        return f"has {len(parts)} components; a path may have at most {MAX_PATH_DEPTH}"
    for part in parts:
        if part == "":
            return "must not contain empty components ('//' or a trailing '/')"
        problem = name_problem(part)
        if problem:
            return f"component {part[:40]!r} {problem}"
    return None


def check_name(name: str) -> str:
    """``name`` if it is a valid path component; else ValueError with the rule it broke."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


def check_path(path: str, max_bytes: int = MAX_PATH_BYTES) -> str:
    """``path`` if it is a valid relative path; else ValueError with the rule it broke."""
    problem = path_problem(path, max_bytes)
    if problem:
        raise ValueError(problem)
    return path


def env_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid environment variable name, or None when it is."""
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        return f"{name!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
    if len(name) > MAX_ENV_NAME_BYTES:
        return f"variable name is {len(name)} bytes; at most {MAX_ENV_NAME_BYTES}"
    return None


def env_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be an environment variable's value, or None when it can."""
    if not isinstance(value, str):
        return "must be a string"
    if "\0" in value:
        return "must not contain NUL characters"
    if len(value) > MAX_ENV_VALUE_CHARS:
        return f"must have at most {MAX_ENV_VALUE_CHARS} characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None
