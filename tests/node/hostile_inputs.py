"""Inputs a hostile requester can post, made block by block in a real embedded store.

Each is content the importer would never produce but any requester can: the blocks hash
correctly, so only the structure is hostile. Shared by the node's unit, property and
end-to-end tests.
"""

from __future__ import annotations

from pathlib import Path

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.dagpb import (
    EMPTY_DIRECTORY_DATA,
    UnixFSType,
    encode_link,
    encode_node,
    encode_unixfs,
)
from jobmarket.content.embedded import EmbeddedStore

GiB = 1024**3
LEAF_BYTES = 256 * 1024


def put_block(store: EmbeddedStore, block: bytes, codec: int = DAG_PB) -> Cid:
    cid = Cid.for_block(block, codec)
    store.blocks.put(cid, (block,))
    return cid


def file_bomb(store: EmbeddedStore, size: int = 64 * GiB) -> Cid:
    """Three blocks describing a ``size``-byte file: one 256 KiB leaf, a node linking it
    4,096 times (1 GiB), a root linking that node ``size / 1 GiB`` times."""
    leaf = put_block(store, b"\0" * LEAF_BYTES, RAW)
    per_middle = 4096
    middle_size = per_middle * LEAF_BYTES
    middle = put_block(
        store,
        encode_node(
            [encode_link(leaf, b"", LEAF_BYTES)] * per_middle,
            encode_unixfs(
                UnixFSType.FILE, filesize=middle_size, blocksizes=[LEAF_BYTES] * per_middle
            ),
        ),
    )
    count = size // middle_size
    return put_block(
        store,
        encode_node(
            [encode_link(middle, b"", middle_size)] * count,
            encode_unixfs(
                UnixFSType.FILE, filesize=count * middle_size, blocksizes=[middle_size] * count
            ),
        ),
    )


def directory(store: EmbeddedStore, entries: dict[bytes, Cid]) -> Cid:
    """A basic UnixFS directory of ``entries`` (names as given, unchecked)."""
    links = [encode_link(cid, name, 0) for name, cid in sorted(entries.items())]
    return put_block(store, encode_node(links, EMPTY_DIRECTORY_DATA))


def symlink(store: EmbeddedStore, target: bytes) -> Cid:
    return put_block(store, encode_node([], encode_unixfs(UnixFSType.SYMLINK, target)))


def folder_missing_a_leaf(store: EmbeddedStore, work: Path) -> Cid:
    """A folder of two files added normally, then one file's block deleted: the root and
    the other file are there, one leaf is not."""
    folder = work / "two-files"
    folder.mkdir()
    (folder / "kept.txt").write_text("kept")
    (folder / "lost.txt").write_text("this block goes missing")
    root = store.add_path(folder)
    [lost] = [entry.cid for entry in store.ls(root) if entry.name == "lost.txt"]
    store.blocks.delete(lost)
    return root
