"""A symbolic link given to ``store add`` is stored as the link itself, as Kubo's ``ipfs add``.

Expected CIDs: Kubo's sharness test t0044-add-symlink.sh, copied with its setup in
tests/content/data/kubo-sharness-cids.json (from shared/vectors/).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jobmarket.content.importer import ImportParams

VECTORS = json.loads((Path(__file__).with_name("data") / "kubo-sharness-cids.json").read_text())[
    "symlinks"
]


@pytest.fixture
def t0044(tmp_path, monkeypatch) -> Path:
    """t0044's tree: files/foo/baz, files/bar/baz -> files/foo/baz, files/bad -> (missing)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "files" / "foo").mkdir(parents=True)
    (tmp_path / "files" / "bar").mkdir()
    (tmp_path / "files" / "foo" / "baz").write_text("some text\n")
    os.symlink("files/foo/baz", tmp_path / "files" / "bar" / "baz")
    os.symlink("files/does/not/exist", tmp_path / "files" / "bad")
    return tmp_path


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["add"] for vector in VECTORS])
def test_store_add_gives_kubos_cid_for_t0044(store, t0044, vector):
    params = ImportParams(cid_version=vector["cid_version"])
    assert str(store.add_path(t0044 / vector["add"], params=params)) == vector["expect"]


def test_a_stored_link_reads_back_as_the_link(store, t0044, tmp_path):
    cid = store.add_path(t0044 / "files" / "bad", params=ImportParams(cid_version=0))
    out = tmp_path / "out"
    store.get(cid, out, symlinks=True)
    assert out.is_symlink() and os.readlink(out) == "files/does/not/exist"
