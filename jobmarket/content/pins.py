"""The embedded store's pin set: a small JSON file changed under an exclusive lock.

A provider node and a person's CLI may share one store, so every change is a locked
read-modify-write followed by an atomic rename: concurrent pins are never lost and a crash
never leaves a half-written file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from jobmarket.content.ipld import AnyCid, parse_any
from jobmarket.errors import IntegrityError
from jobmarket.fileio import locked, write_atomically

_FORMAT_VERSION = 1


class PinSet:
    """Recursively pinned roots, persisted as ``{"version": 1, "pins": ["bafy…", …]}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def _load(self) -> list[AnyCid]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise IntegrityError(
                f"pin file {self.path} is unreadable: {err}",
                "restore it from a backup or delete it",
            ) from None
        if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
            raise IntegrityError(
                f"pin file {self.path} has an unknown format", "restore it or delete it"
            )
        return [parse_any(text) for text in document.get("pins", [])]

    def _save(self, pins: list[AnyCid]) -> None:
        document = {"version": _FORMAT_VERSION, "pins": sorted({str(pin) for pin in pins})}
        write_atomically(self.path, json.dumps(document, indent=1) + "\n")

    def _update(self, change: Callable[[list[AnyCid]], list[AnyCid]]) -> None:
        with locked(self._lock_path):
            self._save(change(self._load()))

    def add(self, cid: AnyCid) -> None:
        self._update(lambda pins: pins if cid in pins else [*pins, cid])

    def remove(self, cid: AnyCid) -> bool:
        """Remove ``cid`` (matched by its bytes, v0 and v1 alike); False if it was not pinned."""
        removed = False

        def drop(pins: list[AnyCid]) -> list[AnyCid]:
            nonlocal removed
            kept = [pin for pin in pins if pin.to_v1() != cid.to_v1()]
            removed = len(kept) != len(pins)
            return kept

        self._update(drop)
        return removed

    def list(self) -> list[AnyCid]:
        with locked(self._lock_path):
            return self._load()
