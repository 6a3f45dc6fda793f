"""The embedded store: round trips, CAR files, pins, and refusing bad bytes or bad trees."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from jobmarket.content.car import CARV2_PRAGMA, CarReader, encode_header
from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.dagpb import (
    EMPTY_DIRECTORY_DATA,
    UnixFSType,
    encode_link,
    encode_node,
    encode_unixfs,
)
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import Importer, ImportParams
from jobmarket.content.multiformats import encode_varint
from jobmarket.content.store import open_store
from jobmarket.errors import IntegrityError, InvalidInput, NotFound, UserError

CHUNK = 262144


def _tree(root: Path) -> Path:
    """Files of every interesting size, nested folders, an empty folder, a dotfile."""
    data = os.urandom(3 * CHUNK + 17)
    files = {
        "empty.bin": b"",
        "one-chunk.bin": data[:CHUNK],
        "multi-chunk.bin": data,
        "docs/readme.txt": b"hello\n",
        "docs/deeper/notes.md": b"# notes\n" * 1000,
        ".config/settings": b"hidden=true\n",
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "empty-folder").mkdir()
    return root


def _same_tree(left: Path, right: Path) -> None:
    left_entries = sorted(p.relative_to(left).as_posix() for p in left.rglob("*"))
    right_entries = sorted(p.relative_to(right).as_posix() for p in right.rglob("*"))
    assert left_entries == right_entries
    for relative in left_entries:
        if (left / relative).is_file():
            assert (left / relative).read_bytes() == (right / relative).read_bytes(), relative


def test_directory_tree_survives_car_export_and_import_into_a_fresh_store(tmp_path):
    source = _tree(tmp_path / "source")
    first = EmbeddedStore(tmp_path / "first", fsync=False)
    params = ImportParams(hidden=True)
    root = first.add_dir(source, pin=True, params=params)
    assert root == Importer(params).add_path(source).cid  # storing does not change the CID

    car = tmp_path / "tree.car"
    blocks = first.export_car(root, car)
    assert blocks >= 8

    second = EmbeddedStore(tmp_path / "second", fsync=False)
    assert second.import_car(car) == [root]
    assert second.pins() == [root]
    second.get(root, tmp_path / "out")
    _same_tree(source, tmp_path / "out")


def test_car_file_has_kubo_header_and_dag_export_block_order(tmp_path, store):
    source = _tree(tmp_path / "source")
    root = store.add_dir(source)
    car = tmp_path / "tree.car"
    store.export_car(root, car)
    raw = car.read_bytes()
    assert raw.startswith(encode_header([root]))
    # header is exactly dag-cbor {"roots": [CID], "version": 1}
    assert b"\xa2eroots\x81\xd8\x2aX\x25\x00" + bytes(root) + b"gversion\x01" in raw[:64]
    with open(car, "rb") as stream:
        order = [cid for cid, _ in CarReader(stream).blocks()]
    assert order[0] == root  # depth-first from the root, each block once
    assert len(order) == len({cid.multihash for cid in order})


def test_cat_streams_a_multi_chunk_file_byte_identical(store):
    data = os.urandom(5 * CHUNK + 1)
    cid = store.add_bytes(data)
    assert b"".join(bytes(piece) for piece in store.cat(cid)) == data


def test_v0_content_reads_back_too(store, tmp_path):
    data = os.urandom(2 * CHUNK + 5)
    cid = store.add_bytes(data, params=ImportParams(cid_version=0))
    assert str(cid).startswith("Qm")
    assert b"".join(bytes(p) for p in store.cat(cid)) == data


def test_corrupted_block_on_disk_is_detected_and_named(store):
    data = os.urandom(2 * CHUNK)
    cid = store.add_bytes(data)
    leaf = Cid.for_block(data[:CHUNK], RAW)
    path = store.blocks.path_for(leaf)
    path.chmod(0o644)
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 0x01  # one flipped bit
    path.write_bytes(damaged)
    with pytest.raises(IntegrityError) as caught:
        b"".join(store.cat(cid))
    message = caught.value.message
    assert f"block {leaf} is corrupted on disk" in message
    assert message.endswith("remove it and fetch it again")


def test_get_writes_nothing_when_a_block_is_corrupted(store, tmp_path):
    source = _tree(tmp_path / "source")
    root = store.add_dir(source)
    victim = Cid.for_block(b"hello\n", RAW)
    store.blocks.path_for(victim).chmod(0o644)
    store.blocks.path_for(victim).write_bytes(b"HELLO\n")
    with pytest.raises(IntegrityError):
        store.get(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_missing_block_is_not_found(store):
    absent = Cid.for_block(b"never stored", RAW)
    with pytest.raises(NotFound, match="not in the local store"):
        b"".join(store.cat(absent))
    assert not store.has(absent)


def _put(store: EmbeddedStore, block: bytes, codec: int = DAG_PB) -> Cid:
    cid = Cid.for_block(block, codec)
    store.blocks.put(cid, (block,))
    return cid


@pytest.mark.parametrize(
    "name",
    [b"..", b".", b"a/b", b"", b"x\0y", b"a\\b", b"line\n", b"\x1b[2J", b"\xff", b"n" * 256],
)
def test_get_refuses_entry_names_that_escape_the_destination(store, tmp_path, name):
    """A hostile but well-hashed directory (e.g. a provider's result) cannot write outside,
    nor a name the rule book (jobmarket.names) refuses for every other stage."""
    payload = _put(store, b"owned\n", RAW)
    link = encode_link(payload, name, 6)
    directory = _put(store, encode_node([link], EMPTY_DIRECTORY_DATA))
    with pytest.raises(IntegrityError, match="unsafe entry name"):
        store.get(directory, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "owned").exists()


def test_get_refuses_symlinks(store, tmp_path):
    link_node = _put(store, encode_node([], encode_unixfs(UnixFSType.SYMLINK, b"/etc/passwd")))
    directory = _put(
        store, encode_node([encode_link(link_node, b"passwd", 20)], EMPTY_DIRECTORY_DATA)
    )
    with pytest.raises(IntegrityError, match="symbolic link"):
        store.get(directory, tmp_path / "out")


def test_file_whose_sizes_lie_is_refused(store):
    """Correct hashes, wrong structure: a node claiming 10 bytes for a 6-byte child."""
    child = _put(store, b"abcdef", RAW)
    data = encode_unixfs(UnixFSType.FILE, filesize=10, blocksizes=[10])
    root = _put(store, encode_node([encode_link(child, b"", 6)], data))
    with pytest.raises(IntegrityError, match="holds 6 bytes"):
        b"".join(store.cat(root))


def test_file_claiming_children_it_does_not_link_is_refused(store):
    """A lone node whose sizes promise 10 bytes must not read back as an empty file."""
    data = encode_unixfs(UnixFSType.FILE, filesize=10, blocksizes=[10])
    root = _put(store, encode_node([], data))
    with pytest.raises(IntegrityError, match="lists 1 block sizes for 0 links"):
        b"".join(store.cat(root))


def test_get_refuses_to_overwrite(store, tmp_path):
    cid = store.add_bytes(b"x")
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(InvalidInput, match="already exists"):
        store.get(cid, tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "mine"


def test_a_store_folder_that_cannot_be_written_is_one_error(store):
    """Disk full or wrong permissions, simulated by a file where a shard folder belongs."""
    shard = store.blocks.path_for(Cid.for_block(b"x", RAW)).parent
    shard.write_bytes(b"")
    with pytest.raises(UserError, match=r"cannot write block \S+ into the content store"):
        store.add_bytes(b"x")


def test_pins_persist_and_gc_keeps_only_pinned_content(tmp_path):
    store = EmbeddedStore(tmp_path / "ipfs", fsync=False)
    kept = store.add_bytes(os.urandom(3 * CHUNK), pin=True)
    dropped = store.add_bytes(os.urandom(3 * CHUNK))
    reopened = EmbeddedStore(tmp_path / "ipfs", fsync=False)
    assert reopened.pins() == [kept]
    assert reopened.gc() == 4  # the unpinned file's root and three leaves
    assert len(b"".join(reopened.cat(kept))) == 3 * CHUNK
    assert not reopened.has(dropped)
    reopened.unpin(kept)
    with pytest.raises(NotFound, match="is not pinned"):
        reopened.unpin(kept)
    reopened.gc()
    assert list(reopened.blocks.keys()) == []


def test_pin_requires_the_whole_dag(store):
    data = os.urandom(2 * CHUNK)
    cid = store.add_bytes(data)
    store.blocks.delete(Cid.for_block(data[CHUNK:], RAW))
    with pytest.raises(NotFound):
        store.pin(cid)
    assert store.pins() == []


def test_import_refuses_a_car_with_a_tampered_block(store, tmp_path):
    source = tmp_path / "file.bin"
    source.write_bytes(b"original content")
    cid = store.add_file(source)
    car = tmp_path / "tampered.car"
    store.export_car(cid, car)
    car.write_bytes(car.read_bytes().replace(b"original", b"ORIGINAL"))
    fresh = EmbeddedStore(tmp_path / "fresh", fsync=False)
    with pytest.raises(IntegrityError, match="does not match its CID"):
        fresh.import_car(car)
    assert fresh.pins() == [] and not fresh.has(cid)


def test_import_refuses_a_car_missing_blocks_of_its_root(store, tmp_path):
    data = os.urandom(2 * CHUNK)
    root = store.add_bytes(data)
    car = tmp_path / "partial.car"
    with open(car, "wb") as out:
        out.write(encode_header([root]))
        block = store.get_block(root)
        out.write(encode_varint(len(bytes(root)) + len(block)) + bytes(root) + block)
    fresh = EmbeddedStore(tmp_path / "fresh", fsync=False)
    with pytest.raises(IntegrityError, match="does not hold the whole DAG"):
        fresh.import_car(car)
    assert fresh.pins() == []


def test_import_reads_carv2(store, tmp_path):
    cid = store.add_bytes(b"carried in a CARv2")
    v1 = tmp_path / "v1.car"
    store.export_car(cid, v1)
    payload = v1.read_bytes()
    header = bytes(16) + (51).to_bytes(8, "little") + len(payload).to_bytes(8, "little")
    header += (0).to_bytes(8, "little")
    v2 = tmp_path / "v2.car"
    v2.write_bytes(CARV2_PRAGMA + header + payload)
    fresh = EmbeddedStore(tmp_path / "fresh", fsync=False)
    assert fresh.import_car(v2) == [cid]
    assert b"".join(fresh.cat(cid)) == b"carried in a CARv2"


def test_not_a_car_file_is_one_clear_error(store, tmp_path):
    bogus = tmp_path / "bogus.car"
    bogus.write_bytes(b"\x05hello")
    with pytest.raises(InvalidInput, match="is not a valid CAR file"):
        store.import_car(bogus)
    with pytest.raises(InvalidInput, match="is not a file"):
        store.import_car(tmp_path)


def test_carv2_pointing_far_past_its_end_is_refused_without_reading_that_far(store, tmp_path):
    """The data offset comes from the file: 2**62 must be an error, not a 4 EiB allocation."""
    forged = tmp_path / "forged.car"
    header = bytes(16) + (2**62).to_bytes(8, "little") + (10).to_bytes(8, "little") + bytes(8)
    forged.write_bytes(CARV2_PRAGMA + header)
    with pytest.raises(InvalidInput, match="unexpected end of file"):
        store.import_car(forged)


def test_blocks_are_files_named_by_multihash_and_written_once(store):
    cid = store.add_bytes(b"same bytes")
    again = store.add_bytes(b"same bytes")
    assert cid == again
    path = store.blocks.path_for(cid)
    assert path.read_bytes() == b"same bytes"
    assert path.name.startswith("CIQ") and path.parent.name == path.name[-8:-6]
    assert hashlib.sha256(path.read_bytes()).digest() == cid.digest


def test_open_store_defaults_to_embedded_under_jobmarket_home(tmp_path, monkeypatch):
    monkeypatch.delenv("IPFS_API", raising=False)
    monkeypatch.delenv("JOBMARKET_IPFS_DIR", raising=False)
    monkeypatch.setenv("JOBMARKET_HOME", str(tmp_path / "home"))
    store = open_store()
    assert isinstance(store, EmbeddedStore)
    assert store.root == tmp_path / "home" / "ipfs"
    monkeypatch.setenv("JOBMARKET_IPFS_DIR", str(tmp_path / "elsewhere"))
    assert open_store().root == tmp_path / "elsewhere"
