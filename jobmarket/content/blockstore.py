"""Blocks on disk: one file per block, named by its multihash, every read hash-checked.

Layout (modelled on Kubo's flatfs ``next-to-last/2``, so a directory never holds more than a
few thousand entries)::

    <root>/blocks/<2 chars>/<BASE32 MULTIHASH>.data

Keys are multihashes, not CIDs, so the raw and dag-pb (or v0 and v1) names of identical bytes
share one file; blocks of other codecs and hashes (from CAR imports) are kept the same way.
Writes go to a temporary file that is synced before it is renamed into place, so a crash never
leaves a truncated block under a valid name; an add or import (:meth:`Blockstore.batch`) syncs
once for all its blocks instead of once per block. Reads re-hash the bytes: a disk that
flipped a bit produces an :class:`~jobmarket.errors.IntegrityError`, never wrong content.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from jobmarket.content.importer import BlockParts
from jobmarket.content.ipld import AnyCid
from jobmarket.errors import IntegrityError, NotFound, UserError

MAX_BLOCK_SIZE = 4 * 1024 * 1024
"""Largest block we accept from anyone (Kubo's own limit for exchanged blocks is 2 MiB)."""


def block_key(multihash: bytes) -> str:
    return base64.b32encode(multihash).decode("ascii").rstrip("=")


class Blockstore:
    """A content-addressed folder of blocks; safe for several processes to share."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.blocks_dir = self.root / "blocks"
        self.blocks_dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._known_shards: set[str] = set()

    def path_for(self, cid: AnyCid) -> Path:
        return self._path(cid.multihash)

    def _path(self, multihash: bytes) -> Path:
        key = block_key(multihash)
        return self.blocks_dir / key[-3:-1] / f"{key}.data"

    def has(self, cid: AnyCid) -> bool:
        return self.path_for(cid).is_file()

    def put(self, cid: AnyCid, parts: BlockParts) -> bool:
        """Store one block the caller has already hashed, durably; False when it was present.

        For many blocks use :meth:`batch`: one filesystem sync instead of one per block.
        """
        path = self.path_for(cid)
        if path.exists():
            return False
        with self._writing(cid):
            temporary = self._write_temporary(path, parts)
            try:
                if self._fsync:
                    _fsync_path(temporary)
                os.replace(temporary, path)
            except BaseException:
                _unlink(temporary)
                raise
        return True

    @contextlib.contextmanager
    def batch(self) -> Iterator[BlockBatch]:
        """A sink for one add or import: its blocks appear under their names together at the end.

        Blocks are written to temporary files without syncing each; on success the filesystem
        is synced once, every file renamed into place, and synced again so the names are on
        disk before a pin can refer to them. A crash at any point leaves only temporaries
        (removed by ``gc``), never a block name over unsynced bytes. On failure nothing of the
        batch is left behind.
        """
        batch = BlockBatch(self)
        try:
            yield batch
            if batch.pending:
                with self._writing(None):
                    self._sync([temporary for temporary, _ in batch.pending])
                    while batch.pending:
                        temporary, path = batch.pending[-1]
                        os.replace(temporary, path)
                        batch.pending.pop()
                    self._sync([])
        finally:
            for temporary, _ in batch.pending:
                _unlink(temporary)

    @contextlib.contextmanager
    def _writing(self, cid: AnyCid | None) -> Iterator[None]:
        """One error line for a failed write (full disk, read-only folder)."""
        try:
            yield
        except OSError as err:
            what = f"block {cid}" if cid is not None else "blocks"
            raise UserError(
                f"cannot write {what} into the content store {self.root}: {err.strerror}",
                "free some disk space or fix the folder's permissions",
            ) from None

    def _write_temporary(self, path: Path, parts: BlockParts) -> str:
        """The block in a read-only temporary file beside ``path`` (not synced)."""
        shard = path.parent
        if shard.name not in self._known_shards:
            shard.mkdir(exist_ok=True)
            self._known_shards.add(shard.name)
        fd, temporary = tempfile.mkstemp(dir=shard, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for part in parts:
                    view = memoryview(part)
                    while view:
                        written = out.write(view)
                        view = view[written:]
            os.chmod(temporary, 0o444)
        except BaseException:
            _unlink(temporary)
            raise
        return temporary

    def _sync(self, files: list[str]) -> None:
        """Make written data and names durable: one ``syncfs`` of the store's filesystem where
        Linux offers it, else an fsync of each file and of the shard folders."""
        if not self._fsync:
            return
        if _syncfs is not None:
            fd = os.open(self.blocks_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if _syncfs(fd) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error))
            finally:
                os.close(fd)
            return
        for name in files:
            _fsync_path(name)
        for shard in self._known_shards:
            _fsync_path(self.blocks_dir / shard, directory=True)

    def get(self, cid: AnyCid) -> bytes:
        """The block's bytes, verified against the CID."""
        path = self.path_for(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"block {cid} is not in the local store",
                "add or import the content first (or fetch it from the peer that has it)",
            ) from None
        if not cid.verify(data):
            raise IntegrityError(
                f"block {cid} is corrupted on disk ({path}): its bytes do not hash to the CID",
                "remove it and fetch it again",
            )
        return data

    def delete(self, cid: AnyCid) -> None:
        self.discard(cid.multihash)

    def discard(self, multihash: bytes) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(multihash).unlink()

    def keys(self) -> Iterator[bytes]:
        """The multihash of every stored block (the codec is not stored with a block)."""
        for shard in sorted(self.blocks_dir.iterdir()):
            if not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                name = entry.name
                if not name.endswith(".data") or name.startswith("."):
                    continue
                key = name[: -len(".data")]
                try:
                    multihash = base64.b32decode(key + "=" * (-len(key) % 8))
                except ValueError:
                    continue
                if multihash:
                    yield multihash


class BlockBatch:
    """The :class:`~jobmarket.content.importer.BlockSink` of one :meth:`Blockstore.batch`."""

    def __init__(self, store: Blockstore) -> None:
        self.store = store
        self.pending: list[tuple[str, Path]] = []
        self._seen: set[bytes] = set()

    def put(self, cid: AnyCid, parts: BlockParts) -> None:
        if cid.multihash in self._seen:
            return
        path = self.store.path_for(cid)
        if path.exists():
            return
        with self.store._writing(cid):
            temporary = self.store._write_temporary(path, parts)
        self._seen.add(cid.multihash)
        self.pending.append((temporary, path))


def _fsync_path(path: str | Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)`` through libc, or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_syncfs = _load_syncfs()
