"""CIDs parse and print exactly as Kubo does, and anything else is refused clearly."""

from __future__ import annotations

import hashlib

import pytest

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.errors import InvalidInput

HELLO_RAW = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
HELLO_V0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"


def test_raw_cid_is_the_sha256_of_the_bytes():
    cid = Cid.parse(HELLO_RAW)
    assert (cid.version, cid.codec, cid.codec_name) == (1, RAW, "raw")
    assert cid.digest == hashlib.sha256(b"hello world").digest()
    assert str(cid) == HELLO_RAW


def test_from_digest_recovers_the_cid_the_chain_only_stores_as_32_bytes():
    digest = hashlib.sha256(b"hello world").digest()
    assert str(Cid.from_digest(digest)) == HELLO_RAW
    spec_cid = Cid.from_digest(digest, RAW)
    result_cid = Cid.from_digest(digest, DAG_PB)
    assert str(spec_cid).startswith("bafkrei")
    assert str(result_cid).startswith("bafybei")


def test_cidv0_round_trips_and_converts_to_v1_like_ipfs_cid_base32():
    cid = Cid.parse(HELLO_V0)
    assert (cid.version, cid.codec) == (0, DAG_PB)
    assert str(cid) == HELLO_V0
    # `ipfs cid base32 Qmf412…` (sharness t0040 uses the same conversion for its bigfile)
    assert str(cid.to_v1()) == "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"


def test_binary_form_round_trips():
    for text in (HELLO_RAW, HELLO_V0):
        cid = Cid.parse(text)
        decoded, end = Cid.from_bytes(bytes(cid))
        assert decoded == cid
        assert end == len(bytes(cid))


def test_ipfs_paths_and_whitespace_are_accepted():
    assert Cid.parse(f" /ipfs/{HELLO_RAW}/ ") == Cid.parse(HELLO_RAW)
    assert Cid.parse(f"ipfs://{HELLO_V0}") == Cid.parse(HELLO_V0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty CID"),
        ("hello", "is not a CID"),
        ("Qm" + "1" * 44, "not a sha2-256 multihash"),
        ("Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyf0", "not valid base58btc"),
        (HELLO_RAW[:-8], "truncated digest"),
        (HELLO_RAW + "aa", "trailing bytes"),
        ("b!!!!", "not valid base32"),
        # blake2b-256 (sharness t0040 --hash=blake2b-256) and dag-cbor are not ours
        ("bafykbzaceaptbcs7ik5mdfpot3b4ackvxlwh7loc5jcrtkayf64ukl7zyk46e", "only sha2-256"),
        ("bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "codec 0x71"),
    ],
)
def test_malformed_or_foreign_cids_are_refused_with_a_reason(text, message):
    with pytest.raises(InvalidInput, match=message):
        Cid.parse(text)


def test_inconsistent_cids_cannot_be_built():
    digest = bytes(32)
    with pytest.raises(InvalidInput, match="CIDv0 is always dag-pb"):
        Cid(0, RAW, digest)
    with pytest.raises(InvalidInput, match="32 bytes"):
        Cid(1, RAW, b"short")
