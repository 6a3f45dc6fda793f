"""The embedded store's pins and holds: small JSON files changed under an exclusive lock.

A provider node and a person's CLI may share one store, so every change is a locked
read-modify-write followed by an atomic rename: concurrent changes are never lost and a crash
never leaves a half-written file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jobmarket.content.ipld import AnyCid, parse_any
from jobmarket.errors import IntegrityError
from jobmarket.fileio import locked, write_atomically

_FORMAT_VERSION = 1


class _LockedDocument:
    """``{"version": 1, FIELD: …}`` in one file; :meth:`_update` is its only writer."""

    field: str
    what: str

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def _load(self) -> Any:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise IntegrityError(
                f"{self.what} file {self.path} is unreadable: {err}",
                "restore it from a backup or delete it",
            ) from None
        if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
            raise IntegrityError(
                f"{self.what} file {self.path} has an unknown format", "restore it or delete it"
            )
        return document.get(self.field)

    def _save(self, value: Any) -> None:
        document = {"version": _FORMAT_VERSION, self.field: value}
        write_atomically(self.path, json.dumps(document, indent=1) + "\n")

    def _update(self, change: Callable[[Any], Any]) -> Any:
        """Apply ``change`` to the stored value under the lock; returns what it returned
        beside the new value (``change`` gives ``(new_value, result)``)."""
        with locked(self._lock_path):
            value, result = change(self._load())
            self._save(value)
            return result

    def _read(self) -> Any:
        with locked(self._lock_path):
            return self._load()


class PinSet(_LockedDocument):
    """Recursively pinned roots, persisted as ``{"version": 1, "pins": ["bafy…", …]}``."""

    field = "pins"
    what = "pin"

    @staticmethod
    def _parsed(texts: list[str] | None) -> list[AnyCid]:
        return [parse_any(text) for text in texts or []]

    @staticmethod
    def _texts(pins: list[AnyCid]) -> list[str]:
        return sorted({str(pin) for pin in pins})

    def add(self, cid: AnyCid) -> None:
        def change(texts: list[str] | None) -> tuple[list[str], None]:
            pins = self._parsed(texts)
            return self._texts(pins if cid in pins else [*pins, cid]), None

        self._update(change)

    def remove(self, cid: AnyCid) -> bool:
        """Remove ``cid`` (matched by its bytes, v0 and v1 alike); False if it was not pinned."""

        def change(texts: list[str] | None) -> tuple[list[str], bool]:
            pins = self._parsed(texts)
            kept = [pin for pin in pins if pin.to_v1() != cid.to_v1()]
            return self._texts(kept), len(kept) != len(pins)

        return self._update(change)

    def list(self) -> list[AnyCid]:
        return self._parsed(self._read())


class HoldSet(_LockedDocument):
    """Named holds, persisted as ``{"version": 1, "holds": {"name": ["bafy…", …], …}}``."""

    field = "holds"
    what = "hold"

    def put(self, name: str, roots: Sequence[AnyCid]) -> None:
        def change(holds: dict[str, list[str]] | None) -> tuple[dict[str, list[str]], None]:
            return {**(holds or {}), name: sorted({str(root) for root in roots})}, None

        self._update(change)

    def remove(self, name: str) -> None:
        def change(holds: dict[str, list[str]] | None) -> tuple[dict[str, list[str]], None]:
            return {key: value for key, value in (holds or {}).items() if key != name}, None

        self._update(change)

    def names(self) -> list[str]:
        return sorted(self._read() or {})

    def roots(self) -> list[AnyCid]:
        """Every held root, each once."""
        texts = {text for roots in (self._read() or {}).values() for text in roots}
        return [parse_any(text) for text in sorted(texts)]
