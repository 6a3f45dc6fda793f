"""Reading UnixFS DAGs back: file bytes, directory listings and safe materialisation on disk.

Every function takes a ``get_block(cid) -> bytes`` that has already verified the block against
its CID (the embedded blockstore re-hashes on read; the Kubo client hashes what the daemon
sent). On top of that, this module checks the *structure*: the sizes a node claims must match
what its children deliver, directory entry names must be plain names (the rule book
:mod:`jobmarket.names`), HAMT-sharded directories must be shaped exactly as their hash
function places every name, and the DAG may not be deeper than any real file needs. A forged
but well-hashed DAG is therefore refused too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.dagpb import (
    MalformedNode,
    PBNode,
    UnixFSData,
    UnixFSType,
    decode_node,
    decode_unixfs,
)
from jobmarket.content.hamt import (
    HASH_BITS,
    HASH_MURMUR3,
    bits_per_level,
    decode_bitfield,
    fanout_problem,
    link_prefix,
    max_levels,
    murmur3_64,
    prefix_width,
)
from jobmarket.errors import IntegrityError, InvalidInput
from jobmarket.fileio import partial_sibling
from jobmarket.names import name_problem, path_problem
from jobmarket.terminal import printable

GetBlock = Callable[[Cid], bytes]

MAX_FILE_DEPTH = 32  # a balanced tree of 174-link nodes holds 174**32 chunks
MAX_TREE_DEPTH = 256
DIRECTORY_KINDS = (UnixFSType.DIRECTORY, UnixFSType.HAMT_SHARD)


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry: its name, CID and the cumulative size the link claims."""

    name: str
    cid: Cid
    tsize: int


@dataclass(frozen=True, slots=True)
class Decoded:
    """A block decoded as UnixFS (``unixfs`` is None for a raw block)."""

    node: PBNode | None
    unixfs: UnixFSData | None
    raw: bytes | None

    @property
    def kind(self) -> UnixFSType:
        return UnixFSType.RAW if self.unixfs is None else self.unixfs.type


def decode(cid: Cid, block: bytes) -> Decoded:
    if cid.codec == RAW:
        return Decoded(None, None, block)
    try:
        node = decode_node(block)
        return Decoded(node, decode_unixfs(node.data), None)
    except MalformedNode as err:
        raise IntegrityError(
            f"block {cid} is not a valid UnixFS node: {err}",
            "the content was not produced by an IPFS importer; do not use it",
        ) from None


def links_of(cid: Cid, block: bytes) -> list[Cid]:
    """CIDs a block links to (none for raw blocks), for walking whole DAGs."""
    if cid.codec != DAG_PB:
        return []
    try:
        return [link.cid for link in decode_node(block).links]
    except MalformedNode as err:
        raise IntegrityError(
            f"block {cid} is not valid dag-pb: {err}", "do not use this content"
        ) from None


def walk(get_block: GetBlock, root: Cid, *, read_raw: bool = True) -> Iterator[tuple[Cid, bytes]]:
    """Every block of a DAG once, depth-first in link order (the order of ``ipfs dag export``).

    With ``read_raw=False`` raw leaves are not read (they link to nothing) and are yielded
    with empty bytes: enough to mark what a pin protects without reading every byte.
    """
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.multihash in seen:
            continue
        seen.add(cid.multihash)
        if cid.codec == RAW and not read_raw:
            yield cid, b""
            continue
        block = get_block(cid)
        yield cid, block
        stack.extend(reversed(links_of(cid, block)))


def iter_file(get_block: GetBlock, cid: Cid) -> Iterator[bytes | memoryview]:
    """The bytes of a UnixFS file, in order, checking every size the DAG claims."""
    decoded = decode(cid, get_block(cid))
    if decoded.kind in DIRECTORY_KINDS:
        raise InvalidInput(f"{cid} is a directory, not a file; use `store get` to fetch it")
    if decoded.kind == UnixFSType.SYMLINK:
        raise InvalidInput(f"{cid} is a symbolic link, not a file")
    yield from _file_pieces(get_block, cid, decoded, 0)


def _file_pieces(
    get_block: GetBlock, cid: Cid, decoded: Decoded, depth: int
) -> Iterator[bytes | memoryview]:
    if decoded.raw is not None:
        yield decoded.raw
        return
    if depth > MAX_FILE_DEPTH:
        raise IntegrityError(f"file DAG under {cid} is deeper than {MAX_FILE_DEPTH} levels")
    unixfs = decoded.unixfs
    node = decoded.node
    assert unixfs is not None and node is not None
    if unixfs.type not in (UnixFSType.FILE, UnixFSType.RAW):
        raise IntegrityError(f"block {cid} is a UnixFS {unixfs.type.name}, inside a file")
    own = len(unixfs.data) if unixfs.data is not None else 0
    if len(unixfs.blocksizes) != len(node.links):  # sizes without links: bytes nobody delivers
        raise IntegrityError(
            f"block {cid} lists {len(unixfs.blocksizes)} block sizes for {len(node.links)} links"
        )
    expected_total = own + sum(unixfs.blocksizes)
    if unixfs.filesize is not None and unixfs.filesize != expected_total:
        raise IntegrityError(
            f"block {cid} claims {unixfs.filesize} bytes but its parts add up to {expected_total}"
        )
    if own:
        yield unixfs.data  # type: ignore[misc]
    for link, expected in zip(node.links, unixfs.blocksizes, strict=True):
        child = decode(link.cid, get_block(link.cid))
        delivered = 0
        for piece in _file_pieces(get_block, link.cid, child, depth + 1):
            delivered += len(piece)
            if delivered > expected:
                raise IntegrityError(f"block {link.cid} holds more bytes than {cid} says")
            yield piece
        if delivered != expected:
            raise IntegrityError(
                f"block {link.cid} holds {delivered} bytes but {cid} says {expected}"
            )


def safe_name(raw: bytes, parent: Cid) -> str:
    """A directory entry name that is a valid path component under :mod:`jobmarket.names`."""
    problem = name_problem(raw)
    if problem:
        raise IntegrityError(
            f"directory {parent} has an unsafe entry name {printable(repr(raw[:80]))}: "
            f"it {problem}",
            "refusing to write it; the content may be an attempt to escape the destination",
        )
    return os.fsdecode(raw)


def list_directory(get_block: GetBlock, cid: Cid, decoded: Decoded | None = None) -> list[Entry]:
    """Entries of a basic or HAMT-sharded directory, names and structure checked.

    A HAMT's entries are returned sorted by name, as the basic directory of the same entries
    lists them (its shards hold them in hash order)."""
    decoded = decoded or decode(cid, get_block(cid))
    entries = list(iter_directory(get_block, cid, decoded))
    if decoded.kind == UnixFSType.HAMT_SHARD:
        entries.sort(key=lambda entry: os.fsencode(entry.name))
    return entries


def iter_directory(
    get_block: GetBlock, cid: Cid, decoded: Decoded | None = None
) -> Iterator[Entry]:
    """Entries one by one (a HAMT's shards are read as they are reached); ``decoded`` saves a
    re-read. Raises IntegrityError at the first name or shard that is wrong."""
    decoded = decoded or decode(cid, get_block(cid))
    if decoded.kind == UnixFSType.HAMT_SHARD:
        entries: Iterable[Entry] = _hamt_entries(get_block, cid, decoded)
    elif decoded.kind == UnixFSType.DIRECTORY:
        assert decoded.node is not None
        entries = (
            Entry(safe_name(link.name, cid), link.cid, link.tsize) for link in decoded.node.links
        )
    else:
        raise InvalidInput(f"{cid} is not a directory")
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise IntegrityError(f"directory {cid} lists the same name twice")
        seen.add(entry.name)
        yield entry


def _forged(root: Cid, shard: Cid, level: int, problem: str) -> IntegrityError:
    """The error for a malformed HAMT (its text is built only here: CIDs are costly to print)."""
    where = f"HAMT directory {root}" + (f" (shard {shard})" if level else "")
    return IntegrityError(f"{where} {problem}", "the directory was forged; do not use it")


def _hamt_entries(get_block: GetBlock, root: Cid, decoded: Decoded) -> Iterator[Entry]:
    """The leaves of a HAMT directory in slot order, each checked to sit where its hash says.

    Every shard must use the root's hash function and fanout, its bitfield must name exactly
    its links, each link must carry its slot's prefix, a sub-shard may not be empty or deeper
    than the 64-bit hash reaches, and each leaf's name must hash to the slot it occupies at
    every level. A sub-shard can therefore appear at one position only, so reading costs at
    most entries * levels blocks however the DAG is forged.
    """
    assert decoded.unixfs is not None
    fanout = decoded.unixfs.fanout
    problem = fanout_problem(fanout)
    if problem:
        raise _forged(root, root, 0, problem)
    assert fanout is not None
    levels = max_levels(fanout)
    width = prefix_width(fanout)
    bits = bits_per_level(fanout)
    # (CID, decoded or None, level, the slots above it read as one number: the hash prefix)
    stack: list[tuple[Cid, Decoded | None, int, int]] = [(root, decoded, 0, 0)]
    while stack:
        shard_cid, shard, level, trail = stack.pop()
        shard = shard or decode(shard_cid, get_block(shard_cid))
        unixfs, node = shard.unixfs, shard.node
        shift = HASH_BITS - (level + 1) * bits
        if unixfs is None or node is None or unixfs.type != UnixFSType.HAMT_SHARD:
            raise _forged(root, shard_cid, level, f"is a UnixFS {shard.kind.name}, not a shard")
        if unixfs.hash_type != HASH_MURMUR3 or unixfs.fanout != fanout:
            raise _forged(
                root,
                shard_cid,
                level,
                f"uses hash 0x{unixfs.hash_type or 0:x} and fanout {unixfs.fanout}; a HAMT "
                f"uses murmur3 (0x{HASH_MURMUR3:x}) and one fanout ({fanout}) throughout",
            )
        slots = decode_bitfield(unixfs.data, fanout)
        if slots is None or len(slots) != len(node.links):
            problem = f"has a bitfield that does not match its {len(node.links)} links"
            raise _forged(root, shard_cid, level, problem)
        if level and not slots:
            raise _forged(root, shard_cid, level, "is an empty sub-shard")
        sub_shards = []
        for index, link in zip(slots, node.links, strict=True):
            if link.name[:width] != link_prefix(index, fanout):
                problem = f"has a link named {printable(repr(link.name[:40]))} in slot {index}"
                raise _forged(root, shard_cid, level, problem)
            name = link.name[width:]
            if not name:
                if level + 1 >= levels:
                    raise _forged(root, shard_cid, level, "is deeper than a 64-bit hash reaches")
                if link.cid.codec != DAG_PB:
                    raise _forged(root, shard_cid, level, "links a raw block as a sub-shard")
                sub_shards.append((link.cid, None, level + 1, (trail << bits) | index))
                continue
            if murmur3_64(name) >> shift != (trail << bits) | index:  # its slot at every level
                problem = f"holds {printable(repr(name[:80]))} where its hash does not place it"
                raise _forged(root, shard_cid, level, problem)
            yield Entry(safe_name(name, root), link.cid, link.tsize)
        stack.extend(reversed(sub_shards))


class TreeTooLarge(InvalidInput):
    """The content is larger (bytes or entries) than the caller allows; nothing was written."""


@dataclass
class TreeSummary:
    """What writing a DAG out would produce: counted while every block was read and verified."""

    total_bytes: int = 0
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    max_depth: int = 0


def inspect_tree(
    get_block: GetBlock,
    cid: Cid,
    *,
    prefix: str = "",
    max_bytes: int | None = None,
    max_entries: int | None = None,
) -> TreeSummary:
    """Read every block under ``cid`` (each verified by ``get_block``) and sum what it holds.

    Checks everything :func:`write_tree` would refuse later — structure, sizes, entry names and
    path lengths (``prefix`` is the path the tree will be mounted at, counted in) under the
    rule book :mod:`jobmarket.names` — and stops at the first block that is missing or wrong
    (``NotFound``/``IntegrityError``) or once ``max_bytes``/``max_entries`` would be exceeded
    (:class:`TreeTooLarge`, decided from the sizes the DAG claims before their bytes are read).
    """
    summary = TreeSummary()
    _inspect(get_block, cid, prefix, 0, summary, max_bytes, max_entries)
    return summary


def _inspect(
    get_block: GetBlock,
    cid: Cid,
    path: str,
    depth: int,
    summary: TreeSummary,
    max_bytes: int | None,
    max_entries: int | None,
) -> None:
    if depth > MAX_TREE_DEPTH:
        raise IntegrityError(f"directory tree under {cid} is deeper than {MAX_TREE_DEPTH} levels")
    if path:
        problem = path_problem(path)
        if problem:
            raise InvalidInput(f"path {printable(path[:200])} {problem}")
    summary.max_depth = max(summary.max_depth, depth)
    entries = summary.files + summary.directories + summary.symlinks + 1
    if max_entries is not None and entries > max_entries:
        raise TreeTooLarge(f"{cid} holds more than {max_entries} files and folders")
    decoded = decode(cid, get_block(cid))
    kind = decoded.kind
    if kind in DIRECTORY_KINDS:
        summary.directories += 1
        for entry in iter_directory(get_block, cid, decoded):
            child = f"{path}/{entry.name}" if path else entry.name
            _inspect(get_block, entry.cid, child, depth + 1, summary, max_bytes, max_entries)
    elif kind == UnixFSType.SYMLINK:
        summary.symlinks += 1
    else:
        summary.files += 1
        declared = _declared_size(decoded)
        if max_bytes is not None and summary.total_bytes + declared > max_bytes:
            raise TreeTooLarge(f"{cid} holds more than {max_bytes} bytes")
        for piece in _file_pieces(get_block, cid, decoded, 0):
            summary.total_bytes += len(piece)
            if max_bytes is not None and summary.total_bytes > max_bytes:
                raise TreeTooLarge(f"{cid} holds more than {max_bytes} bytes")


def _declared_size(decoded: Decoded) -> int:
    """The file size a node claims (verified as its pieces are read)."""
    if decoded.raw is not None:
        return len(decoded.raw)
    unixfs = decoded.unixfs
    assert unixfs is not None
    own = len(unixfs.data) if unixfs.data is not None else 0
    return max(own + sum(unixfs.blocksizes), unixfs.filesize or 0)


def write_tree(
    get_block: GetBlock,
    cid: Cid,
    destination: Path,
    *,
    max_bytes: int | None = None,
    symlinks: bool = False,
) -> None:
    """Write a file or directory to ``destination`` (which must not exist), all or nothing.

    Content is first written under a temporary sibling and renamed into place only after every
    block verified, so a failure never leaves a half-written or unverified tree behind.
    ``max_bytes`` bounds the file bytes written (:class:`TreeTooLarge` at the first byte past
    it, whatever the DAG claims). Symbolic links are refused unless ``symlinks``: then each is
    recreated as a link (its target is never followed or resolved here).
    """
    destination = Path(destination)
    if destination.exists() or destination.is_symlink():
        raise InvalidInput(f"{destination} already exists; choose a path that does not exist")
    parent = destination.parent
    if not parent.is_dir():
        raise InvalidInput(f"folder {parent} does not exist; create it first")
    staging = partial_sibling(destination)
    if staging.exists():
        _remove(staging)
    try:
        _Writer(get_block, max_bytes, symlinks).write(cid, str(staging), 0)
        os.replace(staging, destination)
    except BaseException:
        _remove(staging)
        raise


MAX_LINK_TARGET_BYTES = 4095


class _Writer:
    def __init__(self, get_block: GetBlock, max_bytes: int | None, symlinks: bool) -> None:
        self.get_block = get_block
        self.max_bytes = max_bytes
        self.symlinks = symlinks
        self.written = 0

    def write(self, cid: Cid, target: str, depth: int) -> None:
        """Write ``cid`` at ``target`` (a str path: cheaper than Path for 100,000 entries)."""
        if depth > MAX_TREE_DEPTH:
            raise IntegrityError(
                f"directory tree under {cid} is deeper than {MAX_TREE_DEPTH} levels"
            )
        get_block = self.get_block
        decoded = decode(cid, get_block(cid))
        kind = decoded.kind
        if kind in DIRECTORY_KINDS:
            os.mkdir(target)
            for entry in iter_directory(get_block, cid, decoded):
                self.write(entry.cid, os.path.join(target, entry.name), depth + 1)
        elif kind == UnixFSType.SYMLINK:
            if not self.symlinks:
                raise IntegrityError(
                    f"{os.path.basename(target)} ({cid}) is a symbolic link",
                    "refusing to write links; they could point outside the destination",
                )
            os.symlink(bytes(_link_target(cid, decoded)), target)
        else:
            out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                for piece in _file_pieces(get_block, cid, decoded, 0):
                    self.written += len(piece)
                    if self.max_bytes is not None and self.written > self.max_bytes:
                        raise TreeTooLarge(f"{cid} holds more than {self.max_bytes} bytes")
                    view = memoryview(piece)
                    while view:
                        view = view[os.write(out, view) :]
            finally:
                os.close(out)


def _link_target(cid: Cid, decoded: Decoded) -> bytes:
    """A UnixFS symlink's target bytes, refused when no filesystem could hold them."""
    unixfs = decoded.unixfs
    assert unixfs is not None
    target = unixfs.data or b""
    if not target or b"\0" in target or len(target) > MAX_LINK_TARGET_BYTES:
        raise IntegrityError(f"symbolic link {cid} has an impossible target")
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
