"""Blocks on disk: one file per block, named by its multihash, every read hash-checked.

Layout (modelled on Kubo's flatfs ``next-to-last/2``, so a directory never holds more than a
few thousand entries)::

    <root>/blocks/<2 chars>/<BASE32 MULTIHASH>.data

Keys are multihashes, not CIDs, so the raw and dag-pb (or v0 and v1) names of identical bytes
share one file; blocks of other codecs and hashes (from CAR imports) are kept the same way.
Writes go to a temporary file that is synced before it is renamed into place, so a crash never
leaves a truncated block under a valid name; an add or import (:meth:`Blockstore.batch`) syncs
once for all its blocks instead of once per block, its files written by writer threads while
the importer hashes the next chunks. Reads re-hash the bytes: a disk that
flipped a bit produces an :class:`~jobmarket.errors.IntegrityError`, never wrong content.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import itertools
import os
import queue
import secrets
import threading
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
        self._blocks_prefix = os.fspath(self.blocks_dir) + os.sep
        self._known_shards: set[str] = set()
        # Temporary names unique to this object and process (a forked child counts on from
        # the same number): no random name, and no retry, per block.
        self._temporary_token = secrets.token_hex(4)
        self._temporaries = itertools.count()

    def path_for(self, cid: AnyCid) -> Path:
        return Path(self._path(cid.multihash))

    def _path(self, multihash: bytes) -> str:
        """The block file's path as a string (built once per block on the write path)."""
        key = block_key(multihash)
        return f"{self._blocks_prefix}{key[-3:-1]}{os.sep}{key}.data"

    def has(self, cid: AnyCid) -> bool:
        return os.path.isfile(self._path(cid.multihash))

    def put(self, cid: AnyCid, parts: BlockParts) -> bool:
        """Store one block the caller has already hashed, durably; False when it was present.

        For many blocks use :meth:`batch`: one filesystem sync instead of one per block.
        """
        path = self._path(cid.multihash)
        if os.path.exists(path):
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

        Blocks are written to temporary files without syncing each (by a few writer threads,
        while the caller hashes the next ones); on success the filesystem is synced once, every
        file renamed into place, and synced again so the names are on disk before a pin can
        refer to them. A crash at any point leaves only temporaries (removed by ``gc``), never
        a block name over unsynced bytes. On failure nothing of the batch is left behind.
        """
        batch = BlockBatch(self)
        try:
            yield batch
            batch.wait()
            if batch.pending:
                with self._writing(None):
                    self._sync([temporary for temporary, _ in batch.pending])
                    while batch.pending:
                        temporary, path = batch.pending[-1]
                        os.replace(temporary, path)
                        batch.pending.pop()
                    self._sync([])
        finally:
            batch.abandon()

    @contextlib.contextmanager
    def _writing(self, cid: AnyCid | None) -> Iterator[None]:
        """One error line for a failed write (full disk, read-only folder)."""
        try:
            yield
        except OSError as err:
            raise self._write_error(cid, err) from None

    def _write_error(self, cid: AnyCid | None, err: OSError) -> UserError:
        what = f"block {cid}" if cid is not None else "blocks"
        error = UserError(
            f"cannot write {what} into the content store {self.root}: {err.strerror}",
            "free some disk space or fix the folder's permissions",
        )
        error.__suppress_context__ = True
        return error

    def _write_temporary(self, path: str, parts: BlockParts) -> str:
        """The block in a read-only temporary file beside ``path`` (not synced).

        Where Linux offers ``sync_file_range``, the file's writeback starts at once, so the
        disk works while the next blocks are hashed and the one sync at the end waits less.
        """
        shard, _, _ = path.rpartition(os.sep)
        if shard not in self._known_shards:
            with contextlib.suppress(FileExistsError):
                os.mkdir(shard)
            self._known_shards.add(shard)
        number = next(self._temporaries)
        temporary = f"{shard}{os.sep}.tmp-{os.getpid()}-{self._temporary_token}-{number}"
        fd = os.open(temporary, _CREATE_FLAGS, 0o444)
        try:
            try:
                os.fchmod(fd, 0o444)  # whatever the umask: every reader may read a block
                _write_all(fd, parts)
                if self._fsync and _sync_file_range is not None:
                    _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # a hint; errors ignored
            finally:
                os.close(fd)
        except BaseException:
            _unlink(temporary)  # ours: O_EXCL created it
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
            _fsync_path(shard, directory=True)

    def get(self, cid: AnyCid) -> bytes:
        """The block's bytes, verified against the CID."""
        path = self._path(cid.multihash)
        try:
            with open(path, "rb") as stream:
                data = stream.read()
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
            os.unlink(self._path(multihash))

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
    """The :class:`~jobmarket.content.importer.BlockSink` of one :meth:`Blockstore.batch`.

    Creating files costs this kernel more than hashing their bytes, so files are written by
    ``WRITER_THREADS`` threads (system calls release the GIL) while the importer hashes the
    next chunk; at most ``MAX_BLOCKS_IN_FLIGHT`` blocks wait in memory. The importer never
    changes a part it has handed over, so parts are written as they are, without a copy.
    Threads and queues are the C-level ``SimpleQueue``: a writer runs little Python per block.
    """

    WRITER_THREADS = 2
    MAX_BLOCKS_IN_FLIGHT = 16

    def __init__(self, store: Blockstore) -> None:
        self.store = store
        self.pending: list[tuple[str, str]] = []  # (temporary, final name), written
        self._seen: set[bytes] = set()
        self._writers: list[threading.Thread] = []
        self._blocks: queue.SimpleQueue[tuple[AnyCid, str, BlockParts] | None] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()  # one per block that may wait
        for _ in range(self.MAX_BLOCKS_IN_FLIGHT):
            self._slots.put(None)
        self._errors: list[BaseException] = []

    def put(self, cid: AnyCid, parts: BlockParts) -> None:
        multihash = cid.multihash
        if multihash in self._seen:
            return
        path = self.store._path(multihash)
        if os.path.exists(path):  # present, hence identical: its name is its content's hash
            return
        if self._errors:
            self.wait()  # raises the first write's error
        self._seen.add(multihash)
        if not self._writers:
            for index in range(self.WRITER_THREADS):
                writer = threading.Thread(
                    target=self._write_blocks, name=f"block-writer-{index}", daemon=True
                )
                writer.start()
                self._writers.append(writer)
        self._slots.get()
        self._blocks.put((cid, path, parts))

    def _write_blocks(self) -> None:
        """A writer thread: each queued block into its temporary file, until ``None``."""
        store = self.store
        while (block := self._blocks.get()) is not None:
            cid, path, parts = block
            if not self._errors:  # after a failure the add stops; skip what is queued
                try:
                    self.pending.append((store._write_temporary(path, parts), path))
                except OSError as err:
                    self._errors.append(store._write_error(cid, err))
                except BaseException as err:  # reported by wait(), in the caller's thread
                    self._errors.append(err)
            self._slots.put(None)

    def wait(self) -> None:
        """Wait for every write; the first failure is raised."""
        for _ in self._writers:
            self._blocks.put(None)
        for writer in self._writers:
            writer.join()
        self._writers.clear()
        if self._errors:
            raise self._errors[0]

    def abandon(self) -> None:
        """Remove whatever temporaries are left (the batch failed, or ended early)."""
        with contextlib.suppress(BaseException):
            self.wait()
        for temporary, _ in self.pending:
            _unlink(temporary)
        self.pending.clear()


def _write_all(fd: int, parts: BlockParts) -> None:
    """Write the parts in order, in one system call unless the kernel takes fewer bytes."""
    if len(parts) == 1:
        view = memoryview(parts[0])
        while view:
            view = view[os.write(fd, view) :]
        return
    views = [memoryview(part) for part in parts if len(part)]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def _fsync_path(path: str | Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _load_libc_function(name: str, argtypes: list[type]) -> Callable[..., int] | None:
    """A Linux system call wrapper from libc (``syncfs``, ``sync_file_range``), or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


_syncfs = _load_libc_function("syncfs", [ctypes.c_int])
_sync_file_range = _load_libc_function(
    "sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
)
_SYNC_FILE_RANGE_WRITE = 2  # start writeback of dirty pages; does not wait, promises nothing
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
