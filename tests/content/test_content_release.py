"""Releasing content a node no longer needs (``ContentStore.release``): the pin goes, and the
blocks nothing else pins go with it — at once in the embedded store, by Kubo's own GC on a
real Kubo daemon (tests/support/kubo.py) — while shared and unrelated blocks stay."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.kubo

from support.kubo import running_kubo

from jobmarket.content import ipld
from jobmarket.content.cid import Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.kubo import KuboStore


def _folder(root: Path, shared: bytes, own: bytes) -> Path:
    root.mkdir()
    (root / "shared.bin").write_bytes(shared)
    (root / "own.bin").write_bytes(own)
    (root / "logs").mkdir()
    (root / "logs" / "stdout.log").write_text(f"{root.name}\n")
    return root


def _blocks(store: EmbeddedStore, root: Cid) -> set[bytes]:
    return {cid.multihash for cid, _ in ipld.walk(store.get_block, root)}


def test_release_deletes_only_the_blocks_no_other_pin_reaches(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    shared = os.urandom(600_000)  # three chunks, shared by both results
    result = store.add_dir(_folder(tmp_path / "a", shared, os.urandom(1000)), pin=True)
    kept = store.add_dir(_folder(tmp_path / "b", shared, os.urandom(1000)), pin=True)
    unpinned = store.add_bytes(b"someone's content, never pinned")
    own = _blocks(store, result) - _blocks(store, kept)

    removed = store.release([result])

    assert removed == len(own) >= 4  # root, own.bin, logs/, stdout.log
    assert result not in store.pins() and kept in store.pins()
    assert not any(multihash in set(store.blocks.keys()) for multihash in own)
    assert _blocks(store, kept)  # every block of the other pin is still there and verifies
    assert store.get_block(unpinned)  # release touches only the DAGs it was given
    assert store.release([result]) == 0  # a second call (after a crash) is harmless


def test_release_after_a_crash_part_way_finishes_the_deletion(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    result = store.add_dir(_folder(tmp_path / "a", b"x" * 10, b"y" * 10), pin=True)
    blocks = [cid for cid, _ in ipld.walk(store.get_block, result)]
    # Stand-in for a crash during a first release: its leaves (deleted first) are gone.
    store.blocks.delete(blocks[-1])

    removed = store.release([result])

    assert removed == len(blocks) - 1
    assert not any(store.has(cid) for cid in blocks)


def test_release_on_a_real_kubo_node_unpins_and_its_gc_removes_the_blocks(tmp_path: Path) -> None:
    with running_kubo(tmp_path / "kubo") as daemon:
        store = KuboStore(daemon.api_url, timeout=10.0, retries=1, backoff=0.1)
        try:
            result = store.add_dir(_folder(tmp_path / "a", b"a" * 100, b"own"), pin=True)
            kept = store.add_dir(_folder(tmp_path / "b", b"b" * 100, b"other"), pin=True)

            assert store.release([result]) == 0  # Kubo's GC does the deleting
            daemon.ipfs("repo", "gc")

            assert result not in store.pins() and kept in store.pins()
            assert not store.has(result) and store.has(kept)
            assert store.release([result]) == 0  # not pinned any more: skipped
        finally:
            store.close()
