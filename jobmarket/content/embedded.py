"""The default content store: an IPFS blockstore in a local folder, no daemon required.

Layout under the store folder (``jobmarket.paths.home()/ipfs`` unless configured)::

    blocks/<shard>/<MULTIHASH>.data   one verified block per file (see blockstore.py)
    pins.json                         recursively pinned roots
    holds.json                        named holds (roots gc and release keep, like pins)
    repo.lock                         adds take it shared, gc and release exclusive

CIDs are those of Kubo's ``ipfs add`` with explicit defaults, and CAR files move content to
and from a Kubo node (``ipfs dag import`` / ``ipfs dag export``) unchanged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from jobmarket import paths
from jobmarket.content import ipld
from jobmarket.content.blockstore import Blockstore
from jobmarket.content.car import open_car
from jobmarket.content.cid import RAW, Cid
from jobmarket.content.importer import EntryCallback, ImportedNode, Importer, ImportParams
from jobmarket.content.ipld import AnyCid
from jobmarket.content.pins import HoldSet, PinSet
from jobmarket.content.store import ContentStore, check_hold_name, link_target
from jobmarket.errors import IntegrityError, InvalidInput, NotFound
from jobmarket.fileio import locked

_STALE_TEMPORARY_S = 3600


class EmbeddedStore(ContentStore):
    """Content in a local folder; safe to share between processes on one machine."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, fsync: bool = True) -> None:
        self.root = Path(root) if root is not None else paths.home() / "ipfs"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InvalidInput(
                f"cannot create the content store folder {self.root}: {err.strerror}",
                "set JOBMARKET_IPFS_DIR to a writable folder",
            ) from None
        self.location = str(self.root)
        self.blocks = Blockstore(self.root, fsync=fsync)
        self._pins = PinSet(self.root / "pins.json")
        self._holds = HoldSet(self.root / "holds.json")
        self._lock_path = self.root / "repo.lock"

    # -- writing -----------------------------------------------------------------------------

    def _add(
        self, params: ImportParams | None, pin: bool, run: Callable[[Importer], ImportedNode]
    ) -> Cid:
        """Import under the shared repo lock: ``gc`` cannot drop new blocks before their pin."""
        with locked(self._lock_path, shared=True):
            with self.blocks.batch() as sink:  # one filesystem sync for the whole add
                cid = run(Importer(params or ImportParams(), sink=sink)).cid
            if pin:
                self._pins.add(cid)
        return cid

    def add_bytes(
        self, data: bytes, *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        return self._add(params, pin, lambda importer: importer.add_bytes(data))

    def add_file(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        return self._add(params, pin, lambda importer: importer.add_file(path))

    def add_symlink(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        target = link_target(path)
        return self._add(params, pin, lambda importer: importer.add_symlink(target))

    def add_dir(
        self,
        path: str | os.PathLike[str],
        *,
        pin: bool = False,
        params: ImportParams | None = None,
        on_entry: EntryCallback | None = None,
    ) -> Cid:
        if not Path(path).is_dir():
            raise InvalidInput(f"{path} is not a folder")
        return self._add(params, pin, lambda importer: importer.add_directory(path, on_entry))

    # -- reading -----------------------------------------------------------------------------

    def get_block(self, cid: Cid) -> bytes:
        return self.blocks.get(cid)

    def has(self, cid: Cid) -> bool:
        return self.blocks.has(cid)

    # -- pins --------------------------------------------------------------------------------

    def pin(self, cid: Cid) -> None:
        with locked(self._lock_path, shared=True):
            for _ in ipld.walk(self.blocks.get, cid):
                pass  # every block present and verified, or NotFound / IntegrityError
            self._pins.add(cid)

    def unpin(self, cid: Cid) -> None:
        if not self._pins.remove(cid):
            raise NotFound(f"{cid} is not pinned", "see `requester store ls` for pinned content")

    def pins(self) -> list[AnyCid]:
        """Pinned roots: UnixFS ones as :class:`Cid`, others (dag-cbor from a CAR) as they are."""
        return self._pins.list()

    def hold(self, name: str, roots: Sequence[AnyCid]) -> None:
        with locked(self._lock_path, shared=True):  # gc cannot run between check and hold
            self._holds.put(check_hold_name(name), roots)

    def drop(self, name: str) -> None:
        self._holds.remove(name)

    def held(self, prefix: str) -> list[str]:
        return [name for name in self._holds.names() if name.startswith(prefix)]

    def _kept_roots(self) -> list[AnyCid]:
        """What gc and release keep: the pinned roots and the held ones."""
        return [*self._pins.list(), *self._holds.roots()]

    def release(self, roots: Iterable[Cid]) -> int:
        """Unpin ``roots`` and delete, at once, their blocks that no remaining pin reaches
        (blocks shared with other pinned content stay; nothing outside these DAGs is touched,
        unlike :meth:`gc`). Children are deleted before their parents, so a crash part-way
        leaves what remains reachable from the root and a second call finishes the job."""
        released = list(roots)
        removed = 0
        with locked(self._lock_path):  # exclusive: no add or pin can race the deletion
            for root in released:
                self._pins.remove(root)
            keep: set[bytes] = set()
            for pinned in self._kept_roots():
                keep.update(cid.multihash for cid in self._blocks_present(pinned, read_raw=False))
            for root in released:
                for cid in reversed(self._blocks_present(root, read_raw=True)):
                    if cid.multihash not in keep:
                        self.blocks.discard(cid.multihash)
                        keep.add(cid.multihash)  # shared within the released DAGs: once
                        removed += 1
        return removed

    def _blocks_present(self, root: AnyCid, *, read_raw: bool) -> list[AnyCid]:
        """The DAG's blocks still on disk, each after the parent that links it (missing
        blocks and what only they link are skipped; ``read_raw=False``: raw leaves listed
        unchecked, enough to keep them)."""
        order: list[AnyCid] = []
        seen: set[bytes] = set()
        stack = [root]
        while stack:
            cid = stack.pop()
            if cid.multihash in seen or ipld.is_inline(cid):
                continue
            seen.add(cid.multihash)
            if cid.codec == RAW:
                if not read_raw or self.blocks.has(cid):
                    order.append(cid)
                continue
            try:
                block = self.blocks.get(cid)
            except NotFound:
                continue
            except IntegrityError:
                order.append(cid)  # damaged: removable, but its links cannot be trusted
                continue
            order.append(cid)
            stack.extend(reversed(ipld.links_of(cid, block)))
        return order

    def gc(self) -> int:
        """Delete every block no pin or hold reaches; returns how many were removed."""
        with locked(self._lock_path):
            keep: set[bytes] = set()
            for root in self._kept_roots():
                for cid, _ in ipld.walk(self.blocks.get, root, read_raw=False):
                    keep.add(cid.multihash)
            removed = 0
            for multihash in list(self.blocks.keys()):
                if multihash not in keep:
                    self.blocks.discard(multihash)
                    removed += 1
            self._remove_stale_temporaries()
        return removed

    def _remove_stale_temporaries(self) -> None:
        cutoff = time.time() - _STALE_TEMPORARY_S
        for temporary in self.blocks.blocks_dir.glob("*/.tmp-*"):
            try:
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
            except FileNotFoundError:
                pass

    # -- archives ----------------------------------------------------------------------------

    def import_car(self, path: str | os.PathLike[str], *, pin_roots: bool = True) -> list[AnyCid]:
        """Like ``ipfs dag import``: any verifiable block is kept (identity CIDs stay inline),
        and each root is pinned once its whole DAG (dag-pb, dag-cbor or raw) is present."""
        with open_car(path) as car, locked(self._lock_path, shared=True):
            with self.blocks.batch() as sink:
                for cid, block in car.blocks():  # each block already checked against its CID
                    if not ipld.is_inline(cid):
                        sink.put(cid, (block,))
            if pin_roots:
                for root in car.roots:
                    try:
                        for _ in ipld.walk(self.blocks.get, root):
                            pass
                    except NotFound as err:
                        raise IntegrityError(
                            f"{car.name} does not hold the whole DAG of its root {root} "
                            f"({err.problem})",
                            "export it again with all blocks (ipfs dag export ROOT)",
                        ) from None
                    self._pins.add(root)
        return car.roots
