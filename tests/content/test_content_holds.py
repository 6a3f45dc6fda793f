"""Holds (``ContentStore.hold``): content a provider needs between the check before a claim
and the staging after it is kept from garbage collection under its own name — through the
embedded store's gc and release, and through a REAL Kubo daemon's ``repo gc``
(tests/support/kubo.py; Kubo keeps what its MFS reaches) — and dropping one hold never takes
content that a pin or another hold keeps."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.kubo

from support.kubo import running_kubo

from jobmarket.content import ipld
from jobmarket.content.cid import Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.kubo import KuboStore
from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput


def _whole(store: ContentStore, root: Cid) -> bool:
    """Every block of the DAG is in the store itself (nothing fetched from elsewhere)."""
    return all(store.has(cid) for cid, _ in ipld.walk(store.get_block, root, read_raw=False))


@pytest.fixture(params=["embedded", "kubo"])
def store_and_gc(request, tmp_path: Path) -> Iterator[tuple[ContentStore, object]]:
    """A store and its garbage collection: the embedded store's ``gc``, Kubo's ``repo gc``."""
    if request.param == "embedded":
        store = EmbeddedStore(tmp_path / "store")
        yield store, store.gc
        return
    with running_kubo(tmp_path / "kubo") as daemon:
        kubo = KuboStore(daemon.api_url, timeout=10.0, retries=1, backoff=0.1)
        try:
            yield kubo, lambda: daemon.ipfs("repo", "gc")
        finally:
            kubo.close()


def test_held_content_survives_garbage_collection_until_its_hold_is_dropped(store_and_gc):
    store, gc = store_and_gc
    big = store.add_bytes(os.urandom(700_000))  # three chunks and a root, none pinned
    small = store.add_bytes(b"the second input")
    pinned = store.add_bytes(b"pinned by the operator", pin=True)
    loose = store.add_bytes(b"nobody keeps this")

    store.hold("node1-7", [big, small])
    store.hold("node1-8", [small, pinned])  # the same input for a second job
    gc()

    assert _whole(store, big) and _whole(store, small) and _whole(store, pinned)
    assert not store.has(loose)
    assert store.held("node1-") == ["node1-7", "node1-8"] and store.held("node2-") == []

    store.drop("node1-7")
    gc()
    assert not store.has(big)  # its only hold is gone
    assert _whole(store, small)  # still held by job 8
    store.drop("node1-8")
    store.drop("node1-8")  # nothing held under it any more: nothing to do
    gc()
    assert not store.has(small) and _whole(store, pinned)  # the pin was never touched
    assert store.held("node1-") == []


def test_holding_a_name_again_replaces_its_roots(store_and_gc):
    store, gc = store_and_gc
    first, second = store.add_bytes(b"first"), store.add_bytes(b"second")
    store.hold("n-1", [first])
    store.hold("n-1", [second])
    gc()
    assert store.has(second) and not store.has(first)


def test_a_release_keeps_blocks_that_a_hold_reaches(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    shared = os.urandom(300_000)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "shared.bin").write_bytes(shared)
    result = store.add_dir(tmp_path / "r", pin=True)
    as_input = store.add_bytes(shared)  # an old result's file, named as a new job's input
    store.hold("n-2", [as_input])

    store.release([result])

    assert _whole(store, as_input)


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "x" * 129, "-lead", "spa ce"])
def test_a_hold_name_must_be_one_safe_path_component(tmp_path: Path, name: str) -> None:
    store = EmbeddedStore(tmp_path / "store")
    with pytest.raises(InvalidInput, match="cannot name a hold"):
        store.hold(name, [store.add_bytes(b"x")])
