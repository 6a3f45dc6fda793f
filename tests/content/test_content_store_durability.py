"""An add is all or nothing on disk, with one filesystem sync for all its blocks.

Blocks of an add are written as temporaries and renamed into place only after the sync, so a
failure (or a crash) part-way leaves no block name over unsynced bytes and no stray files.
"""

from __future__ import annotations

import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from jobmarket.content import blockstore
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import Importer
from jobmarket.errors import InvalidInput, UserError

CHUNK = 262144


def _files_under(root: Path) -> list[Path]:
    return sorted(path for path in (root / "blocks").rglob("*") if path.is_file())


def test_add_stores_every_block_durably_and_reads_back(tmp_path):
    store = EmbeddedStore(tmp_path / "ipfs")  # fsync on, as users run it
    data = os.urandom(5 * CHUNK + 7)
    cid = store.add_bytes(data, pin=True)
    assert cid == Importer().add_bytes(data).cid
    assert b"".join(bytes(piece) for piece in store.cat(cid)) == data
    names = [path.name for path in _files_under(store.root)]
    assert len(names) == 7  # six leaves and the root; no temporaries left
    assert not [name for name in names if name.startswith(".tmp-")]


def test_a_failed_directory_add_leaves_nothing_behind(tmp_path):
    store = EmbeddedStore(tmp_path / "ipfs")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a-first.bin").write_bytes(os.urandom(3 * CHUNK))
    os.mkfifo(tree / "z-fifo")  # refused after the first file's blocks were written
    with pytest.raises(InvalidInput, match="unrecognized file type"):
        store.add_dir(tree)
    assert _files_under(store.root) == []


def test_a_failing_sync_is_one_error_and_no_block_appears(tmp_path, monkeypatch):
    # STAND-IN: syncfs(2) failing with EIO cannot be provoked on a healthy disk; inject it.
    monkeypatch.setattr(blockstore, "_syncfs", lambda fd: -1)
    monkeypatch.setattr(blockstore.ctypes, "get_errno", lambda: 5)
    store = EmbeddedStore(tmp_path / "ipfs")
    with pytest.raises(UserError) as caught:
        store.add_bytes(os.urandom(2 * CHUNK))
    assert caught.value.message == (
        f"cannot write blocks into the content store {store.root}: Input/output error; "
        "free some disk space or fix the folder's permissions"
    )
    assert _files_under(store.root) == []


def test_a_block_that_cannot_be_written_fails_the_add_and_leaves_nothing_behind(tmp_path):
    """Blocks are written by writer threads while the next ones are hashed; a failed write
    (here: a real file where a block's shard folder belongs) is still one error, and none of
    the add's other blocks or temporaries stay behind."""
    data = os.urandom(40 * CHUNK)
    victim = Importer().add_bytes(data[17 * CHUNK : 18 * CHUNK]).cid  # the 18th leaf
    store = EmbeddedStore(tmp_path / "ipfs")
    shard = store.blocks.path_for(victim).parent
    shard.write_bytes(b"")
    with pytest.raises(UserError) as caught:
        store.add_bytes(data)
    assert caught.value.message == (
        f"cannot write block {victim} into the content store {store.root}: Not a directory; "
        "free some disk space or fix the folder's permissions"
    )
    assert _files_under(store.root) == [shard]


def test_memory_stays_bounded_while_blocks_wait_for_their_writers(tmp_path):
    store = EmbeddedStore(tmp_path / "ipfs", fsync=False)
    source = tmp_path / "input.bin"
    source.write_bytes(os.urandom(160 * CHUNK))  # 42 MB, ten times what may wait in memory
    tracemalloc.start()
    try:
        cid = store.add_file(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cid == Importer().add_file(source).cid
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a {160 * CHUNK}-byte add"


def test_blocks_are_read_only_and_readable_by_everyone_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        store = EmbeddedStore(tmp_path / "ipfs")
        cid = store.add_bytes(os.urandom(3 * CHUNK))
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(path.stat().st_mode) for path in _files_under(store.root)}
    assert modes == {0o444}
    assert len(b"".join(store.cat(cid))) == 3 * CHUNK
