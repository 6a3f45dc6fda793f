"""Blocks on disk: one file per block, named by its multihash, every read hash-checked.

Layout (modelled on Kubo's flatfs ``next-to-last/2``, so a directory never holds more than a
few thousand entries)::

    <root>/blocks/<2 chars>/<BASE32 MULTIHASH>.data

Keys are multihashes, not CIDs, so the raw and dag-pb (or v0 and v1) names of identical bytes
share one file; blocks of other codecs and hashes (from CAR imports) are kept the same way.
Writes go to a temporary file that is fsynced and renamed into place, so a crash never leaves
a truncated block under a valid name. Reads re-hash the bytes: a disk that
flipped a bit produces an :class:`~jobmarket.errors.IntegrityError`, never wrong content.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from collections.abc import Iterator
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
        """Store a block the caller has already hashed; returns False when it was present."""
        path = self.path_for(cid)
        if path.exists():
            return False
        try:
            self._write(path, parts)
        except OSError as err:
            raise UserError(
                f"cannot write block {cid} into the content store {self.root}: {err.strerror}",
                "free some disk space or fix the folder's permissions",
            ) from None
        return True

    def _write(self, path: Path, parts: BlockParts) -> None:
        shard = path.parent
        if shard.name not in self._known_shards:
            shard.mkdir(exist_ok=True)
            self._known_shards.add(shard.name)
        fd, temp_name = tempfile.mkstemp(dir=shard, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for part in parts:
                    view = memoryview(part)
                    while view:
                        written = out.write(view)
                        view = view[written:]
                if self._fsync:
                    os.fsync(out.fileno())
            os.chmod(temp_name, 0o444)
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise

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
