"""CAR import takes what Kubo's ``dag import`` takes: any codec and any hash we can check.

go-car's ``sample-v1.car`` (tests/content/data/go-car-sample-v1.car, see NOTICE-go-car.md) is a
real-world CAR of 1,043 dag-cbor blocks hashed with blake2b-256 plus six identity CIDs; the
other CARs here are built by hand to reach one case each.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from jobmarket.content import ipld
from jobmarket.content.car import write_car
from jobmarket.content.cid import RAW
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.ipld import DAG_CBOR, BlockCid
from jobmarket.errors import IntegrityError, InvalidInput

SAMPLE = Path(__file__).with_name("data") / "go-car-sample-v1.car"
SAMPLE_ROOT = "bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy"
BLAKE2B_256 = 0xB220


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    return bytes((major << 5 | 26,)) + value.to_bytes(4, "big")


def _cbor_link(cid: BlockCid) -> bytes:
    raw = b"\x00" + bytes(cid)
    return _cbor_head(6, 42) + _cbor_head(2, len(raw)) + raw


def _dag_cbor_linking(links: list[BlockCid]) -> bytes:
    """dag-cbor ``{"links": [CID, …], "n": -2}`` (a negative integer, as real data has)."""
    body = _cbor_head(5, 2) + _cbor_head(3, 5) + b"links" + _cbor_head(4, len(links))
    body += b"".join(_cbor_link(link) for link in links)
    return body + _cbor_head(3, 1) + b"n" + _cbor_head(1, 1)


def _blake2b(data: bytes) -> BlockCid:
    return BlockCid(1, RAW, BLAKE2B_256, hashlib.blake2b(data, digest_size=32).digest())


def _mixed_dag() -> tuple[BlockCid, list[tuple[BlockCid, bytes]]]:
    """A sha2-256 dag-cbor root over a blake2b-256, a sha2-512 and an identity block."""
    leaves = [
        (_blake2b(b"blake2b leaf"), b"blake2b leaf"),
        (BlockCid(1, RAW, 0x13, hashlib.sha512(b"sha512 leaf").digest()), b"sha512 leaf"),
        (BlockCid(1, RAW, ipld.IDENTITY, b"inline"), b"inline"),
    ]
    root_block = _dag_cbor_linking([cid for cid, _ in leaves])
    root = BlockCid(1, DAG_CBOR, 0x12, hashlib.sha256(root_block).digest())
    return root, [(root, root_block), *leaves]


def _car(path: Path, roots: list[BlockCid], blocks: list[tuple[BlockCid, bytes]]) -> Path:
    with open(path, "wb") as out:
        write_car(out, list(roots), blocks)
    return path


def test_go_car_sample_v1_imports_and_pins_its_dag_cbor_root(store):
    roots = store.import_car(SAMPLE)
    assert [str(root) for root in roots] == [SAMPLE_ROOT]
    assert store.pins() == roots
    reached = list(ipld.walk(store.blocks.get, roots[0]))
    assert len(reached) == 1049  # the whole DAG, identity blocks included
    assert len(list(store.blocks.keys())) == 1043  # identity CIDs are never stored
    assert store.gc() == 0


def test_requester_store_import_prints_the_sample_root(cli):
    result = cli("store", "import", str(SAMPLE))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == SAMPLE_ROOT


def test_other_hashes_codecs_and_identity_cids_are_stored_verified_and_collected(store, tmp_path):
    root, blocks = _mixed_dag()
    car = _car(tmp_path / "mixed.car", [root], blocks)
    assert store.import_car(car) == [root]
    for cid, block in blocks:
        if not cid.is_identity:
            assert store.blocks.get(cid) == block  # re-hashed with its own function on read
    reopened = EmbeddedStore(store.root, fsync=False)
    assert reopened.pins() == [root]  # the pin file keeps non-UnixFS CIDs
    assert reopened.gc() == 0
    reopened.unpin(root)
    assert reopened.gc() == 3  # root, blake2b and sha2-512 blocks; nothing was stored inline
    assert list(reopened.blocks.keys()) == []


def test_a_block_whose_hash_cannot_be_computed_is_named(store, tmp_path, cli):
    keccak = BlockCid(1, RAW, 0x1B, bytes(32))
    car = _car(tmp_path / "keccak.car", [keccak], [(keccak, b"anything")])
    with pytest.raises(InvalidInput) as caught:
        store.import_car(car)
    assert f"holds block {keccak} (raw) that cannot be verified" in caught.value.problem
    assert "keccak-256" in caught.value.problem
    result = cli("store", "import", str(car))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {car} holds block {keccak}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_digest_too_short_to_name_content_is_refused(store, tmp_path):
    data = b"weak"
    weak = BlockCid(1, RAW, 0xB210, hashlib.blake2b(data, digest_size=16).digest())
    car = _car(tmp_path / "weak.car", [weak], [(weak, data)])
    with pytest.raises(InvalidInput, match="16-byte digest is too short"):
        store.import_car(car)


@pytest.mark.parametrize(
    "forged",
    [
        (_blake2b(b"what the CID names"), b"something else"),
        (BlockCid(1, RAW, ipld.IDENTITY, b"inline"), b"not the digest"),
    ],
    ids=["blake2b-256", "identity"],
)
def test_a_block_that_does_not_match_its_cid_is_refused(store, tmp_path, forged):
    car = _car(tmp_path / "forged.car", [forged[0]], [forged])
    with pytest.raises(IntegrityError, match="does not match its CID"):
        store.import_car(car)
    assert store.pins() == []


def test_a_dag_cbor_root_missing_a_linked_block_is_not_pinned(store, tmp_path):
    root, blocks = _mixed_dag()
    car = _car(tmp_path / "partial.car", [root], blocks[:2])  # sha2-512 leaf left out
    with pytest.raises(IntegrityError, match="does not hold the whole DAG"):
        store.import_car(car)
    assert store.pins() == []
    assert store.import_car(car, pin_roots=False) == [root]


def test_an_identity_cid_longer_than_kubo_allows_is_refused(store, tmp_path):
    inline = BlockCid(1, RAW, ipld.IDENTITY, b"x" * 129)
    car = _car(tmp_path / "long-identity.car", [inline], [(inline, b"x" * 129)])
    with pytest.raises(InvalidInput, match="identity digest of 129 bytes exceeds 128"):
        store.import_car(car)
