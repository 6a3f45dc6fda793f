"""UnixFS importer that yields the same CIDs as Kubo's ``ipfs add`` (standard library only).

What Kubo does by default, and what this module reproduces byte for byte:

* fixed-size chunks of 262144 bytes (``--chunker=size-262144``);
* ``--cid-version 1`` implies raw leaves (``bafkrei…`` blocks); ``--cid-version 0`` makes each
  leaf a dag-pb UnixFS File node and the root a base58 ``Qm…`` CID. With raw leaves under
  CIDv0 the leaves are still CIDv1 raw blocks (a CIDv0 can only name dag-pb);
* the *balanced* layout: leaves are grouped into File nodes of at most 174 links, those into
  nodes of 174, and so on. A file of one chunk is that chunk's leaf; an empty file is a single
  empty leaf. A level is only closed when more data follows, so the root sits at the smallest
  depth that holds every leaf and the right-most spine keeps its single-child nodes;
* link Tsize is the cumulative serialized size of the child's DAG;
* ``ipfs add -r``: basic UnixFS directories whose links are sorted by name, hidden entries
  (``.name``) skipped unless ``hidden=True``, symlinks stored as UnixFS Symlink nodes (not
  followed), anything else (FIFOs, sockets, devices) refused;
* a directory whose basic block would be too large becomes a HAMT-sharded directory (see
  :mod:`jobmarket.content.hamt`), decided as boxo decides it: the *estimated* size — the sum
  over links of name length plus CID byte length (Kubo's default ``links`` estimation), or
  the exact block size (``block``, the ``unixfs-v1-2025`` profile) — is compared with
  256 KiB and the directory is sharded only when STRICTLY greater.

Memory stays constant for any file size: one chunk buffer plus at most ``max_links`` pending
links per tree level. Blocks go to an optional :class:`BlockSink` (which may keep a bounded
number of chunks it was given: the embedded store's writers hold at most 16); without one only
CIDs are computed (``requester cid``).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.dagpb import (
    EMPTY_DIRECTORY_DATA,
    UnixFSType,
    encode_link,
    encode_node,
    encode_unixfs,
    file_leaf_envelope,
)
from jobmarket.content.hamt import (
    DEFAULT_FANOUT,
    HASH_BITS,
    HASH_MURMUR3,
    bits_per_level,
    encode_bitfield,
    fanout_problem,
    link_prefix,
    max_levels,
    murmur3_64,
)
from jobmarket.errors import InvalidInput

DEFAULT_CHUNK_SIZE = 262144
DEFAULT_MAX_LINKS = 174
MAX_CHUNK_SIZE = 1048576  # Kubo refuses larger chunks: peers will not exchange bigger blocks
MAX_LINKS_LIMIT = 8192
# Kubo (Import.UnixFSHAMTDirectorySizeThreshold) shards a directory whose estimated size is
# strictly greater than this; 0 turns sharding off (boxo's HAMTShardingSize).
HAMT_SHARDING_THRESHOLD = 262144
HAMT_ESTIMATIONS = ("links", "block")  # Import.UnixFSHAMTDirectorySizeEstimation
MAX_TREE_DEPTH = 256

BlockParts = Sequence[bytes | memoryview]


class BlockSink(Protocol):
    """Receives every block the importer produces; ``parts`` concatenated are the block.

    The importer never changes a part after handing it over, so a sink may keep parts and
    write them later (a full chunk's buffer is given away, not reused).
    """

    def put(self, cid: Cid, parts: BlockParts) -> None: ...


@dataclass(frozen=True, slots=True)
class ImportParams:
    """The ``ipfs add`` options that decide CIDs; ``raw_leaves=None`` follows the version."""

    cid_version: int = 1
    raw_leaves: bool | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_links: int = DEFAULT_MAX_LINKS
    hidden: bool = False
    #: shard a directory whose estimated size exceeds this many bytes (1 forces sharding of
    #: every non-empty directory, as Kubo's sharness t0260 does; 0 never shards)
    hamt_threshold: int = HAMT_SHARDING_THRESHOLD
    hamt_fanout: int = DEFAULT_FANOUT
    hamt_estimation: str = "links"

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise InvalidInput(f"--cid-version must be 0 or 1, got {self.cid_version}")
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise InvalidInput(
                f"chunk size must be between 1 and {MAX_CHUNK_SIZE} bytes, got {self.chunk_size}"
            )
        if not 2 <= self.max_links <= MAX_LINKS_LIMIT:
            raise InvalidInput(
                f"max links must be between 2 and {MAX_LINKS_LIMIT}, got {self.max_links}"
            )
        if self.hamt_threshold < 0:
            raise InvalidInput(f"HAMT threshold must be 0 or more bytes, got {self.hamt_threshold}")
        problem = fanout_problem(self.hamt_fanout)
        if problem:
            raise InvalidInput(f"HAMT fanout {problem}")
        if self.hamt_estimation not in HAMT_ESTIMATIONS:
            raise InvalidInput(
                f"HAMT size estimation must be 'links' or 'block', got {self.hamt_estimation!r}"
            )

    @property
    def leaves_are_raw(self) -> bool:
        return self.cid_version == 1 if self.raw_leaves is None else self.raw_leaves


@dataclass(frozen=True, slots=True)
class ImportedNode:
    """An imported file, directory or symlink: its CID, cumulative DAG size and file size."""

    cid: Cid
    tsize: int
    filesize: int = 0


EntryCallback = Callable[[str, ImportedNode, bool], None]
"""Called as ``(relative posix path, node, is_directory)`` for every entry of a tree."""


def _read_full(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` unless the stream ends first (pipes and sockets return short reads)."""
    readinto = getattr(stream, "readinto", None)
    total = 0
    size = len(view)
    while total < size:
        if readinto is not None:
            count = readinto(view[total:])
        else:
            piece = stream.read(size - total)
            count = len(piece)
            view[total : total + count] = piece
        if not count:
            break
        total += count
    return total


def _read_new(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes in a new object, short only where the stream ends."""
    data = stream.read(size) or b""
    if len(data) == size or not data:
        return data
    pieces = [data]
    total = len(data)
    while total < size:
        piece = stream.read(size - total)
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return b"".join(pieces)


def directory_entries(folder: str | os.PathLike[str], hidden: bool) -> list[os.DirEntry[str]]:
    """The entries ``ipfs add -r`` takes from ``folder``, in link order (bytewise by name)."""
    entries = sorted(os.scandir(folder), key=lambda entry: os.fsencode(entry.name))
    return [entry for entry in entries if hidden or not entry.name.startswith(".")]


class Importer:
    """Turns byte streams and directory trees into UnixFS DAGs, sending blocks to ``sink``."""

    def __init__(self, params: ImportParams | None = None, sink: BlockSink | None = None) -> None:
        self.params = params or ImportParams()
        self.sink = sink
        self._node_version = self.params.cid_version
        self._raw = self.params.leaves_are_raw
        self._buffer: bytearray | None = None  # one chunk buffer, reused for every file

    # -- files -------------------------------------------------------------------------------

    def add_bytes(self, data: bytes) -> ImportedNode:
        return self.add_stream(io.BytesIO(data))

    def add_file(self, path: str | os.PathLike[str]) -> ImportedNode:
        """Import a regular file; a FIFO or device is refused (as Kubo does), never waited on."""
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise InvalidInput(f"{path} does not exist; check the path") from None
        except PermissionError:
            raise InvalidInput(f"{path} is not readable; check its permissions") from None
        except OSError as err:
            raise InvalidInput(f"cannot read {path}: {err.strerror}") from None
        with open(descriptor, "rb", buffering=0) as stream:
            mode = os.fstat(descriptor).st_mode
            if stat.S_ISDIR(mode):
                raise InvalidInput(f"{path} is a directory; add it as a directory")
            if not stat.S_ISREG(mode):
                raise InvalidInput(
                    f"unrecognized file type for {path}; add regular files and folders"
                )
            return self.add_stream(stream)

    def add_stream(self, stream: BinaryIO) -> ImportedNode:
        """Import a whole stream as one UnixFS file in constant memory."""
        chunk_size = self.params.chunk_size
        max_links = self.params.max_links
        levels: list[list[ImportedNode]] = [[]]

        count, chunk = self._read_chunk(stream)
        if count == 0:
            return self._leaf(chunk)
        while count:
            leaf = self._leaf(chunk)
            self._push(levels, 0, leaf, max_links)
            if count < chunk_size:
                break
            count, chunk = self._read_chunk(stream)
        return self._finish(levels)

    def _read_chunk(self, stream: BinaryIO) -> tuple[int, memoryview]:
        """The next chunk (short at the end of the stream) and its length.

        Without a sink one buffer serves every chunk. A sink may keep what it is given, so
        then each chunk is read into a new object of its own (no zero-filling, no copy).
        """
        if self.sink is not None:
            chunk = _read_new(stream, self.params.chunk_size)
            return len(chunk), memoryview(chunk)
        if self._buffer is None:
            self._buffer = bytearray(self.params.chunk_size)
        view = memoryview(self._buffer)
        count = _read_full(stream, view)
        return count, view[:count]

    def _leaf(self, chunk: memoryview) -> ImportedNode:
        length = len(chunk)
        if self._raw:
            cid = Cid(1, RAW, hashlib.sha256(chunk).digest())
            if self.sink is not None:
                self.sink.put(cid, (chunk,))
            return ImportedNode(cid, length, length)
        if length == 0:
            # The empty file: a File node without a Data field, as Kubo writes it.
            block = encode_node([], encode_unixfs(UnixFSType.FILE, filesize=0))
            cid = Cid(self._node_version, DAG_PB, hashlib.sha256(block).digest())
            if self.sink is not None:
                self.sink.put(cid, (block,))
            return ImportedNode(cid, len(block), 0)
        head, tail = file_leaf_envelope(length)
        hasher = hashlib.sha256(head)
        hasher.update(chunk)
        hasher.update(tail)
        cid = Cid(self._node_version, DAG_PB, hasher.digest())
        if self.sink is not None:
            self.sink.put(cid, (head, chunk, tail))
        return ImportedNode(cid, len(head) + length + len(tail), length)

    def _push(
        self, levels: list[list[ImportedNode]], depth: int, node: ImportedNode, max_links: int
    ) -> None:
        """Add ``node`` at ``depth``; a full level is closed only now that more data follows."""
        level = levels[depth]
        if len(level) == max_links:
            if depth + 1 == len(levels):
                levels.append([])
            self._push(levels, depth + 1, self._file_node(level), max_links)
            level = levels[depth] = []
        level.append(node)

    def _finish(self, levels: list[list[ImportedNode]]) -> ImportedNode:
        depth = 0
        while True:
            level = levels[depth]
            top = depth + 1 == len(levels)
            if top and len(level) == 1:
                return level[0]  # a single-chunk file is its own leaf
            node = self._file_node(level)
            if top:
                return node
            self._push(levels, depth + 1, node, self.params.max_links)
            depth += 1

    def _file_node(self, children: list[ImportedNode]) -> ImportedNode:
        sizes = [child.filesize for child in children]
        filesize = sum(sizes)
        data = encode_unixfs(UnixFSType.FILE, filesize=filesize, blocksizes=sizes)
        links = [encode_link(child.cid, b"", child.tsize) for child in children]
        return self._emit_node(links, data, sum(child.tsize for child in children), filesize)

    def _emit_node(
        self, links: list[bytes], data: bytes, children_tsize: int, filesize: int
    ) -> ImportedNode:
        block = encode_node(links, data)
        cid = Cid(self._node_version, DAG_PB, hashlib.sha256(block).digest())
        if self.sink is not None:
            self.sink.put(cid, (block,))
        return ImportedNode(cid, len(block) + children_tsize, filesize)

    # -- directories -------------------------------------------------------------------------

    def add_path(
        self, path: str | os.PathLike[str], on_entry: EntryCallback | None = None
    ) -> ImportedNode:
        """``ipfs add`` for a file, ``ipfs add -r`` for a directory."""
        target = Path(path)
        try:
            info = target.stat()
        except FileNotFoundError:
            raise InvalidInput(f"{target} does not exist; check the path") from None
        except OSError as err:
            raise InvalidInput(f"cannot read {target}: {err.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            return self.add_directory(target, on_entry)
        node = self.add_file(target)
        if on_entry is not None:
            on_entry(target.name, node, False)
        return node

    def add_directory(
        self, path: str | os.PathLike[str], on_entry: EntryCallback | None = None
    ) -> ImportedNode:
        """Import a folder recursively (basic directories, HAMT shards where Kubo shards)."""
        return self._directory(Path(path), "", on_entry, 0)

    def _directory(
        self, path: Path, relative: str, on_entry: EntryCallback | None, depth: int
    ) -> ImportedNode:
        if depth > MAX_TREE_DEPTH:
            raise InvalidInput(f"{path} is nested deeper than {MAX_TREE_DEPTH} folders")
        try:
            entries = directory_entries(path, self.params.hidden)
        except PermissionError:
            raise InvalidInput(f"{path} is not readable; check its permissions") from None
        children: list[tuple[bytes, ImportedNode]] = []
        for entry in entries:
            child_relative = f"{relative}/{entry.name}" if relative else entry.name
            is_dir = False
            if entry.is_symlink():
                node = self.add_symlink(os.readlink(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                node = self._directory(Path(entry.path), child_relative, on_entry, depth + 1)
                is_dir = True
            elif entry.is_file(follow_symlinks=False):
                node = self.add_file(entry.path)
            else:
                raise InvalidInput(
                    f"unrecognized file type for {entry.path}; "
                    "remove FIFOs, sockets and devices from the folder"
                )
            if on_entry is not None and not is_dir:
                on_entry(child_relative, node, False)
            children.append((os.fsencode(entry.name), node))
        node = self.directory_node(children, where=str(path))
        if on_entry is not None:
            on_entry(relative, node, True)
        return node

    def directory_node(
        self, children: list[tuple[bytes, ImportedNode]], where: str = "directory"
    ) -> ImportedNode:
        """A UnixFS directory over already-imported children: basic, or a HAMT when too big."""
        children = sorted(children, key=lambda item: item[0])
        for (name, _), (next_name, _) in itertools.pairwise(children):
            if name == next_name:
                raise InvalidInput(f"{where} has two entries named {name!r}")
        links: list[bytes] | None = None
        if self.params.hamt_estimation == "block":  # boxo's estimate: the exact block size
            links = [encode_link(node.cid, name, node.tsize) for name, node in children]
            estimate = sum(map(len, links)) + len(encode_node([], EMPTY_DIRECTORY_DATA))
        else:  # Kubo's default: each link's name and CID bytes, nothing else
            estimate = sum(len(name) + len(bytes(node.cid)) for name, node in children)
        if self.params.hamt_threshold and estimate > self.params.hamt_threshold:
            return self._hamt_node(children, where)
        if links is None:
            links = [encode_link(node.cid, name, node.tsize) for name, node in children]
        filesize = sum(node.filesize for _, node in children)
        return self._emit_node(
            links, EMPTY_DIRECTORY_DATA, sum(node.tsize for _, node in children), filesize
        )

    def _hamt_node(self, children: list[tuple[bytes, ImportedNode]], where: str) -> ImportedNode:
        """The HAMT Kubo builds for these entries (its shape depends only on the names)."""
        fanout = self.params.hamt_fanout
        hashed = [(murmur3_64(name), name, node) for name, node in children]
        prefixes = [link_prefix(index, fanout) for index in range(fanout)]
        return self._shard(hashed, 0, fanout, prefixes, where)

    def _shard(
        self,
        entries: list[tuple[int, bytes, ImportedNode]],
        level: int,
        fanout: int,
        prefixes: list[bytes],
        where: str,
    ) -> ImportedNode:
        shift = HASH_BITS - (level + 1) * bits_per_level(fanout)
        mask = fanout - 1
        buckets: dict[int, list[tuple[int, bytes, ImportedNode]]] = {}
        for entry in entries:
            buckets.setdefault((entry[0] >> shift) & mask, []).append(entry)
        links = []
        children_tsize = filesize = 0
        used = sorted(buckets)
        for index in used:
            group = buckets[index]
            if len(group) == 1:
                _, name, node = group[0]
                link_name = prefixes[index] + name
            elif level + 1 < max_levels(fanout):
                node = self._shard(group, level + 1, fanout, prefixes, where)
                link_name = prefixes[index]
            else:
                names = ", ".join(repr(name) for _, name, _ in group)
                raise InvalidInput(
                    f"{where} has entries whose names share one 64-bit HAMT hash ({names}), "
                    "which a sharded directory cannot hold; rename one of them"
                )
            links.append(encode_link(node.cid, link_name, node.tsize))
            children_tsize += node.tsize
            filesize += node.filesize
        data = encode_unixfs(
            UnixFSType.HAMT_SHARD,
            data=encode_bitfield(used) or None,
            hash_type=HASH_MURMUR3,
            fanout=fanout,
        )
        return self._emit_node(links, data, children_tsize, filesize)

    def add_symlink(self, target: str | bytes) -> ImportedNode:
        """A UnixFS Symlink node (what ``ipfs add -r`` stores instead of following links)."""
        data = encode_unixfs(UnixFSType.SYMLINK, data=os.fsencode(target))
        return self._emit_node([], data, 0, 0)
