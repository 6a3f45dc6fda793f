"""HAMT-sharded directories: built exactly as Kubo builds them, read back whole, forgeries refused.

Expected CIDs come from Kubo's sharness t0260-sharding.sh (shared/vectors/kubo-sharness-cids.json:
2,000 files with sharding forced on, ``Import.UnixFSHAMTDirectorySizeThreshold="1B"``) and
from test/cli/cid_profiles_test.go (in test_content_vectors.py: one byte either side of the
256 KiB threshold). Everything else here checks behaviour a user sees: a job's large output
directory can be stored, listed, moved as a CAR and written out byte for byte, and a forged
sharded directory is refused with one error line before anything is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from content_data import SHARED_VECTORS, VECTORS_FILE

from jobmarket.content import reader
from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.dagpb import UnixFSType, encode_link, encode_node
from jobmarket.content.dagpb import encode_unixfs as unixfs
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.hamt import HASH_MURMUR3, encode_bitfield, murmur3_64, slot
from jobmarket.content.importer import Importer, ImportParams
from jobmarket.errors import IntegrityError, InvalidInput

# A copy of shared/vectors/kubo-sharness-cids.json, so a fresh clone has it too.
SHARNESS = VECTORS_FILE.with_name("kubo-sharness-cids.json")
T0260 = json.loads(SHARNESS.read_text())["hamt"]
T0260_SHARDED = {vector["cid_version"]: vector["expect"] for vector in T0260}
T0260_UNSHARDED = "QmavrTrQG4VhoJmantURAYuw3bowq3E2WcvP36NRQDAC1N"  # named in T0260's "what"
FORCE_SHARDING = 1  # Kubo's "1B": every non-empty directory is sharded


def _t0260_testdata(root: Path) -> Path:
    """``for i in $(seq 2000); do echo $i > testdata/file$i; done``"""
    folder = root / "testdata"
    folder.mkdir()
    for index in range(1, 2001):
        (folder / f"file{index}").write_text(f"{index}\n")
    return folder


def _flat_folder(root: Path, count: int, name: str = "out{:06d}.txt") -> Path:
    """``count`` one-byte files (251 different contents): a job writing many small outputs."""
    root.mkdir()
    for index in range(count):
        descriptor = os.open(root / name.format(index), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(descriptor, bytes((index % 251,)))
        os.close(descriptor)
    return root


def _kind(store: EmbeddedStore, cid: Cid) -> UnixFSType:
    return reader.decode(cid, store.get_block(cid)).kind


def _same_files(left: Path, right: Path) -> int:
    """Both flat folders hold the same names with the same bytes; returns how many."""
    names = sorted(os.listdir(left))
    assert names == sorted(os.listdir(right))
    for name in names:
        assert _read(os.path.join(left, name)) == _read(os.path.join(right, name)), name
    return len(names)


def _read(path: str) -> bytes:
    with open(path, "rb", buffering=0) as stream:  # unbuffered: 200,000 small reads
        return stream.readall()


# -- Kubo's own vectors --------------------------------------------------------------------------


def test_t0260_vectors_are_kubos():
    """The copy matches shared/ when it is beside this checkout, and names both versions."""
    shared = [path.with_name(SHARNESS.name) for path in SHARED_VECTORS]
    original = next((path for path in shared if path.is_file()), SHARNESS)
    assert SHARNESS.read_bytes() == original.read_bytes()
    assert T0260_UNSHARDED in T0260[0]["what"]
    assert sorted(T0260_SHARDED) == [0, 1]


@pytest.mark.parametrize("version", [0, 1])
def test_t0260_sharded_directory_has_kubos_cid(tmp_path, version):
    folder = _t0260_testdata(tmp_path)
    params = ImportParams(cid_version=version, hamt_threshold=FORCE_SHARDING)
    assert str(Importer(params).add_path(folder).cid) == T0260_SHARDED[version]


def test_t0260_without_forcing_is_kubos_basic_directory_and_lists_the_same(tmp_path, store):
    """Sharness: `ipfs ls` of the sharded and the unsharded directory look the same."""
    folder = _t0260_testdata(tmp_path)
    basic = store.add_dir(folder, params=ImportParams(cid_version=0))
    sharded = store.add_dir(folder, params=ImportParams(cid_version=0, hamt_threshold=1))
    assert (str(basic), str(sharded)) == (T0260_UNSHARDED, T0260_SHARDED[0])
    assert _kind(store, basic) == UnixFSType.DIRECTORY
    assert _kind(store, sharded) == UnixFSType.HAMT_SHARD
    assert store.ls(sharded) == store.ls(basic)  # same names, CIDs and sizes, same order
    with pytest.raises(InvalidInput, match="is a directory"):
        b"".join(store.cat(sharded))  # like `ipfs cat` of either: a directory, not a file


# -- the threshold -------------------------------------------------------------------------------


def test_threshold_is_strictly_greater_at_cidv1(tmp_path, store):
    """4096 links of (28-byte name + 36-byte CID) = 262144 stays basic; one byte more shards."""
    at = _flat_folder(tmp_path / "at", 4096, "{:028d}")
    over = _flat_folder(tmp_path / "over", 4096, "{:028d}")
    (over / f"{4095:028d}").rename(over / f"{4095:029d}")
    at_cid, over_cid = store.add_dir(at), store.add_dir(over)
    assert _kind(store, at_cid) == UnixFSType.DIRECTORY
    assert _kind(store, over_cid) == UnixFSType.HAMT_SHARD
    assert len(store.get_block(at_cid)) > 262144  # the estimate, not the block, decides
    renamed = {f"{4095:028d}"} ^ {f"{4095:029d}"}
    assert {e.name for e in store.ls(over_cid)} == {e.name for e in store.ls(at_cid)} ^ renamed


def test_nested_folders_are_sharded_each_by_its_own_size(tmp_path, store):
    """Forced sharding shards every non-empty folder; an empty folder stays the basic one."""
    tree = _flat_folder(tmp_path / "tree", 3)
    (tree / "sub").mkdir()
    (tree / "sub" / "deep.txt").write_text("deep\n")
    (tree / "empty").mkdir()
    root = store.add_dir(tree, params=ImportParams(hamt_threshold=FORCE_SHARDING))
    entries = {entry.name: entry.cid for entry in store.ls(root)}
    assert _kind(store, root) == UnixFSType.HAMT_SHARD
    assert _kind(store, entries["sub"]) == UnixFSType.HAMT_SHARD
    assert str(entries["empty"]) == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    store.get(root, tmp_path / "out")
    assert (tmp_path / "out" / "sub" / "deep.txt").read_text() == "deep\n"
    assert (tmp_path / "out" / "empty").is_dir()


@pytest.mark.parametrize("fanout", [8, 16, 1024])
def test_other_fanouts_kubo_can_be_configured_with_read_back(tmp_path, store, fanout):
    """Import.UnixFSHAMTDirectoryMaxFanout: 1 hex digit of prefix at 8 and 16, 3 at 1024."""
    folder = _flat_folder(tmp_path / "many", 600)
    params = ImportParams(hamt_threshold=FORCE_SHARDING, hamt_fanout=fanout)
    root = store.add_dir(folder, params=params)
    assert reader.decode(root, store.get_block(root)).unixfs.fanout == fanout
    assert [entry.name for entry in store.ls(root)] == sorted(os.listdir(folder))
    store.get(root, tmp_path / "out")
    assert _same_files(folder, tmp_path / "out") == 600


def test_zero_threshold_never_shards_and_bad_parameters_are_refused(tmp_path, store):
    folder = _flat_folder(tmp_path / "many", 6000)
    assert _kind(store, store.add_dir(folder)) == UnixFSType.HAMT_SHARD
    unsharded = store.add_dir(folder, params=ImportParams(hamt_threshold=0))
    assert _kind(store, unsharded) == UnixFSType.DIRECTORY  # Kubo with sharding switched off
    assert len(store.ls(unsharded)) == 6000
    with pytest.raises(InvalidInput, match="fanout"):
        ImportParams(hamt_fanout=300)
    with pytest.raises(InvalidInput, match="estimation"):
        ImportParams(hamt_estimation="guess")


# -- a job's many outputs, end to end ------------------------------------------------------------


def _publish_and_download(tmp_path: Path, source: Path) -> tuple[Cid, EmbeddedStore, Path]:
    """The node stores and pins the folder and exports a CAR; the requester imports it and
    writes the tree out. Checks what each side sees on the way."""
    node = EmbeddedStore(tmp_path / "node-store", fsync=False)
    root = node.add_dir(source, pin=True)
    assert _kind(node, root) == UnixFSType.HAMT_SHARD
    names = [entry.name for entry in node.ls(root)]
    assert len(names) == len(set(names)) == len(os.listdir(source))
    assert set(names) == set(os.listdir(source))
    car = tmp_path / "result.car"
    node.export_car(root, car)
    requester = EmbeddedStore(tmp_path / "requester-store", fsync=False)
    assert requester.import_car(car) == [root]  # every block present and verified, pinned
    requester.get(root, tmp_path / "downloaded")
    return root, requester, tmp_path / "downloaded"


def test_ten_thousand_outputs_are_delivered_intact(tmp_path):
    source = _flat_folder(tmp_path / "outputs", 10_000)
    root, requester, downloaded = _publish_and_download(tmp_path, source)
    assert root == Importer().add_path(source).cid  # storing does not change the CID
    assert requester.gc() == 0  # the pin reaches every shard and leaf
    summary = reader.inspect_tree(requester.get_block, root, max_entries=10_001)
    assert (summary.files, summary.directories, summary.total_bytes) == (10_000, 1, 10_000)
    assert _same_files(source, downloaded) == 10_000


def test_a_hundred_thousand_outputs_are_delivered_intact(tmp_path):
    """No quadratic step anywhere: a directory 20 times past the sharding point."""
    source = _flat_folder(tmp_path / "outputs", 100_000)
    _, _, downloaded = _publish_and_download(tmp_path, source)
    assert _same_files(source, downloaded) == 100_000


def test_hamt_input_is_counted_and_capped_by_inspect_tree(tmp_path, store):
    """The node's pre-claim walk over a sharded input: sizes known, caps applied."""
    tree = _flat_folder(tmp_path / "in", 300)
    (tree / "nested").mkdir()
    (tree / "nested" / "big.bin").write_bytes(b"z" * 5000)
    root = store.add_dir(tree, params=ImportParams(hamt_threshold=FORCE_SHARDING))
    summary = reader.inspect_tree(store.get_block, root, prefix="in")
    assert (summary.files, summary.directories, summary.max_depth) == (301, 2, 2)
    assert summary.total_bytes == 300 + 5000
    with pytest.raises(reader.TreeTooLarge, match="more than 100 files"):
        reader.inspect_tree(store.get_block, root, max_entries=100)
    with pytest.raises(reader.TreeTooLarge, match="more than 4000 bytes"):
        reader.inspect_tree(store.get_block, root, max_bytes=4000)


# -- forged HAMTs --------------------------------------------------------------------------------


def _put(store: EmbeddedStore, block: bytes, codec: int = DAG_PB) -> Cid:
    cid = Cid.for_block(block, codec)
    store.blocks.put(cid, (block,))
    return cid


def _shard_block(
    links: list[bytes], slots: list[int], fanout: int = 256, hash_type: int = HASH_MURMUR3
) -> bytes:
    bitfield = encode_bitfield(slots)
    data = unixfs(UnixFSType.HAMT_SHARD, data=bitfield, hash_type=hash_type, fanout=fanout)
    return encode_node(links, data)


def _shard(
    links: list[tuple[int, bytes, Cid]], fanout: int = 256, hash_type: int = HASH_MURMUR3
) -> bytes:
    """A shard block with links ``(slot, name after the prefix, target)`` in slot order."""
    encoded = [encode_link(cid, b"%02X" % index + name, 1) for index, name, cid in links]
    return _shard_block(encoded, [index for index, _, _ in links], fanout, hash_type)


def _leaf(name: bytes, cid: Cid, level: int = 0) -> tuple[int, bytes, Cid]:
    """A leaf in the slot its hash gives at ``level`` (a well-hashed entry)."""
    return slot(murmur3_64(name), level, 256), name, cid


def _forgeries(store: EmbeddedStore) -> dict[str, tuple[Cid, str]]:
    payload = _put(store, b"owned\n", RAW)
    good = _leaf(b"ok.txt", payload)
    wrong_slot = ((good[0] + 1) % 256, b"ok.txt", payload)
    empty_sub = _put(store, _shard([]))
    basic = _put(store, encode_node([], unixfs(UnixFSType.DIRECTORY)))
    name = b"deep.txt"
    first, second = (slot(murmur3_64(name), level, 256) for level in (0, 1))
    misplaced_sub = _put(store, _shard([((second + 7) % 256, name, payload)]))
    leaf_link = encode_link(payload, b"%02Xok.txt" % good[0], 1)
    too_many_bits = _shard_block([leaf_link], [good[0], (good[0] + 3) % 256])
    not_the_prefix = _shard_block([encode_link(payload, b"zzok.txt", 1)], [good[0]])
    return {
        "leaf in the wrong slot": (_put(store, _shard([wrong_slot])), "does not place it"),
        "escaping name in its right slot": (
            _put(store, _shard([_leaf(b"..", payload)])),
            "unsafe entry name",
        ),
        "control character in its right slot": (
            _put(store, _shard([_leaf(b"a\x1b[2J", payload)])),
            "unsafe entry name",
        ),
        "bitfield with more bits than links": (_put(store, too_many_bits), "bitfield"),
        "fanout not a power of two": (_put(store, _shard([good], fanout=200)), "fanout 200"),
        "fanout above 1024": (_put(store, _shard([good], fanout=2048)), "fanout 2048"),
        "other hash function": (_put(store, _shard([good], hash_type=0x11)), "murmur3"),
        "empty sub-shard": (_put(store, _shard([(7, b"", empty_sub)])), "an empty sub-shard"),
        "basic directory as sub-shard": (
            _put(store, _shard([(7, b"", basic)])),
            "is a UnixFS DIRECTORY",
        ),
        "raw block as sub-shard": (_put(store, _shard([(7, b"", payload)])), "raw block"),
        "misplaced leaf one level down": (
            _put(store, _shard([(first, b"", misplaced_sub)])),
            "does not place it",
        ),
        "prefix that is not the slot": (_put(store, not_the_prefix), "in slot"),
    }


def test_forged_but_well_hashed_hamts_are_refused_before_anything_is_written(store, tmp_path):
    for what, (root, message) in _forgeries(store).items():
        target = tmp_path / what.replace(" ", "-")
        with pytest.raises(IntegrityError, match=message):
            store.ls(root)
        with pytest.raises(IntegrityError, match=message):
            reader.inspect_tree(store.get_block, root)
        with pytest.raises(IntegrityError, match=message):
            store.get(root, target)
        assert not target.exists(), what
        assert os.listdir(tmp_path) == ["ipfs"], what  # no staging folder left behind
    assert not (tmp_path / "owned").exists()


def test_hamt_deeper_than_the_hash_is_refused(store):
    """Eight levels of 8 bits use the whole 64-bit hash: a ninth level cannot be addressed."""
    payload = _put(store, b"x", RAW)
    name = b"bottom"
    hashed = murmur3_64(name)
    child = _put(store, _shard([(slot(hashed, 7, 256), name, payload)]))
    for level in range(6, -1, -1):
        child = _put(store, _shard([(slot(hashed, level, 256), b"", child)]))
    assert [entry.name for entry in reader.list_directory(store.get_block, child)] == ["bottom"]
    too_deep = _put(store, _shard([(slot(hashed, 7, 256), b"", _put(store, _shard([])))]))
    for level in range(6, -1, -1):
        too_deep = _put(store, _shard([(slot(hashed, level, 256), b"", too_deep)]))
    with pytest.raises(IntegrityError, match="deeper than a 64-bit hash reaches"):
        reader.list_directory(store.get_block, too_deep)


def test_forged_hamt_is_one_error_line_from_the_cli(cli, tmp_path):
    home_store = EmbeddedStore(tmp_path / "home" / "ipfs", fsync=False)
    root, _ = _forgeries(home_store)["escaping name in its right slot"]
    for args in (["store", "ls", str(root)], ["store", "get", str(root), str(tmp_path / "o")]):
        result = cli(*args)
        assert result.exit_code == IntegrityError.exit_code, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "unsafe entry name" in lines[0]
    assert not (tmp_path / "o").exists()
