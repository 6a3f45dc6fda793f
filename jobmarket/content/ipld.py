"""Any IPLD block a CAR may carry: its CID with any hash we can check, and the links it holds.

UnixFS content (what we add, fetch and verify on-chain) is always sha2-256 ``raw``/``dag-pb``
and uses the strict :class:`~jobmarket.content.cid.Cid`. A CAR written by other tools (Kubo's
``dag export`` of dag-cbor data, go-car, Filecoin) may also hold other codecs (dag-cbor) and
other multihashes (blake2b-256, sha2-512, sha3) and *identity* CIDs whose block is the digest
itself. Kubo's ``dag import`` takes them all; so do we, as long as the bytes can be checked:

* :class:`BlockCid` names such a block; :func:`narrow` turns it into a :class:`Cid` whenever it
  is one, so UnixFS code keeps its strict type;
* :meth:`BlockCid.verify` hashes with the function its multihash names; a hash we cannot
  compute (or a digest shorter than 20 bytes, as Kubo refuses) is :meth:`~BlockCid.problem`;
* :func:`links_of` reads the links of dag-pb and dag-cbor blocks, so :func:`walk` can check that
  a DAG of any of these codecs is complete before it is pinned.

The dag-cbor decoder (also used for CAR headers) is strict and bounded: definite lengths only,
tag 42 (CID) as the only tag, map keys text, nesting limited. Like go-ipld-prime (Kubo's
decoder) it does not insist that text is UTF-8.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jobmarket.content.cid import DAG_PB, RAW, Cid, CidForms
from jobmarket.content.dagpb import MalformedNode, decode_node
from jobmarket.content.multiformats import (
    base32_decode,
    base58btc_decode,
    decode_varint,
    encode_varint,
)
from jobmarket.errors import IntegrityError, InvalidInput

IDENTITY = 0x00
SHA2_256 = 0x12
DAG_CBOR = 0x71
LIBP2P_KEY = 0x72
MAX_IDENTITY_DIGEST = 128  # boxo's verifcid limit for inline (identity) CIDs
MIN_DIGEST = 20  # boxo's verifcid: shorter digests are too weak to name content
MAX_CBOR_DEPTH = 64
CID_TAG = 42

CODEC_NAMES = {
    RAW: "raw",
    DAG_PB: "dag-pb",
    DAG_CBOR: "dag-cbor",
    LIBP2P_KEY: "libp2p-key",
    0x0129: "dag-json",
    0x0200: "json",
    0x51: "cbor",
    0x78: "git-raw",
    0x85: "dag-jose",
}
_FIXED_HASHES: dict[int, tuple[str, int, Callable[[], hashlib._Hash]]] = {
    SHA2_256: ("sha2-256", 32, hashlib.sha256),
    0x13: ("sha2-512", 64, hashlib.sha512),
    0x14: ("sha3-512", 64, hashlib.sha3_512),
    0x15: ("sha3-384", 48, hashlib.sha3_384),
    0x16: ("sha3-256", 32, hashlib.sha3_256),
    0x17: ("sha3-224", 28, hashlib.sha3_224),
}
_UNSUPPORTED_HASH_NAMES = {
    0x11: "sha1",
    0xD5: "md5",
    0x1B: "keccak-256",
    0x1E: "blake3",
    0x56: "dbl-sha2-256",
    0x1012: "sha2-256-trunc254-padded",
}
_BLAKE2B = range(0xB201, 0xB241)  # blake2b-8 … blake2b-512: digest bytes = code - 0xb200
_BLAKE2S = range(0xB241, 0xB261)  # blake2s-8 … blake2s-256: digest bytes = code - 0xb240


def hash_name(code: int) -> str:
    if code == IDENTITY:
        return "identity"
    if code in _FIXED_HASHES:
        return _FIXED_HASHES[code][0]
    if code in _BLAKE2B:
        return f"blake2b-{8 * (code - 0xB200)}"
    if code in _BLAKE2S:
        return f"blake2s-{8 * (code - 0xB240)}"
    return _UNSUPPORTED_HASH_NAMES.get(code, f"0x{code:x}")


def codec_name(code: int) -> str:
    return CODEC_NAMES.get(code, f"0x{code:x}")


def _hasher(code: int, size: int) -> hashlib._Hash | None:
    """A fresh hash object for multihash ``code`` with a ``size``-byte digest, if we have one."""
    if code in _FIXED_HASHES:
        _, expected, make = _FIXED_HASHES[code]
        return make() if size == expected else None
    if code in _BLAKE2B and size == code - 0xB200:
        return hashlib.blake2b(digest_size=size)
    if code in _BLAKE2S and size == code - 0xB240:
        return hashlib.blake2s(digest_size=size)
    return None


@dataclass(frozen=True, slots=True)
class BlockCid(CidForms):
    """A CIDv0/v1 with any codec and multihash; see :meth:`problem` for whether it verifies."""

    version: int
    codec: int
    hash_code: int
    digest: bytes

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, offset: int = 0) -> tuple[BlockCid, int]:
        """Decode a binary CID at ``offset``; returns it and the offset after it."""
        view = memoryview(data)
        try:
            if bytes(view[offset : offset + 2]) == b"\x12\x20":
                if len(view) < offset + 34:
                    raise ValueError("truncated digest")
                return cls(0, DAG_PB, SHA2_256, bytes(view[offset + 2 : offset + 34])), offset + 34
            version, pos = decode_varint(view, offset)
            if version != 1:
                raise ValueError(f"unsupported CID version {version}")
            codec, pos = decode_varint(view, pos)
            hash_code, pos = decode_varint(view, pos)
            length, pos = decode_varint(view, pos)
        except (ValueError, IndexError) as err:
            raise InvalidInput(f"binary CID is not a CID: {err}") from None
        digest = bytes(view[pos : pos + length])
        if len(digest) != length:
            raise InvalidInput(f"binary CID is not a CID: its {length}-byte digest is truncated")
        return cls(1, codec, hash_code, digest), pos + length

    @classmethod
    def parse(cls, text: str) -> BlockCid:
        """``Qm…`` or a multibase CIDv1 (``b…`` base32, ``z…`` base58btc)."""
        value = text.strip()
        try:
            if len(value) == 46 and value.startswith("Qm"):
                raw = base58btc_decode(value)
            elif value[:1] in ("b", "B"):
                raw = base32_decode(value[1:])
            elif value[:1] == "z":
                raw = base58btc_decode(value[1:])
            else:
                raise ValueError("expected Qm…, b… or z…")
        except ValueError as err:
            raise InvalidInput(f"{text!r} is not a CID: {err}") from None
        cid, end = cls.from_bytes(raw)
        if end != len(raw):
            raise InvalidInput(f"{text!r} is not a CID: trailing bytes after the multihash")
        return cid

    @property
    def multihash(self) -> bytes:
        return encode_varint(self.hash_code) + encode_varint(len(self.digest)) + self.digest

    @property
    def codec_name(self) -> str:
        return codec_name(self.codec)

    @property
    def is_identity(self) -> bool:
        """An inline CID: the block is the digest itself and is never stored."""
        return self.hash_code == IDENTITY

    def __repr__(self) -> str:
        return f"BlockCid({str(self)!r})"

    def to_v1(self) -> BlockCid:
        return BlockCid(1, self.codec, self.hash_code, self.digest)

    def problem(self) -> str | None:
        """Why the bytes of this block cannot be checked here, or None when they can."""
        size = len(self.digest)
        if self.is_identity:
            if size > MAX_IDENTITY_DIGEST:
                return f"its identity digest of {size} bytes exceeds {MAX_IDENTITY_DIGEST}"
            return None
        if _hasher(self.hash_code, size) is None:
            return (
                f"its multihash {hash_name(self.hash_code)} ({size} bytes) cannot be computed here"
            )
        if size < MIN_DIGEST:
            return f"its {size}-byte digest is too short to name content (at least {MIN_DIGEST})"
        return None

    def verify(self, data: bytes | memoryview) -> bool:
        """True when ``data`` is the block this CID names (always False if unverifiable)."""
        if self.problem() is not None:
            return False
        if self.is_identity:
            return bytes(data) == self.digest
        hasher = _hasher(self.hash_code, len(self.digest))
        assert hasher is not None
        hasher.update(data)
        return hasher.digest() == self.digest


AnyCid = Cid | BlockCid


def narrow(cid: BlockCid) -> AnyCid:
    """The strict :class:`Cid` when ``cid`` is a sha2-256 raw/dag-pb CID, else ``cid`` itself."""
    if cid.hash_code == SHA2_256 and len(cid.digest) == 32 and cid.codec in (RAW, DAG_PB):
        return Cid(cid.version, cid.codec, cid.digest)
    return cid


def parse_any(text: str) -> AnyCid:
    """A CID in text form, as :class:`Cid` when it is one (see :func:`narrow`)."""
    return narrow(BlockCid.parse(text))


def is_inline(cid: AnyCid) -> bool:
    return isinstance(cid, BlockCid) and cid.is_identity


# -- dag-cbor ------------------------------------------------------------------------------------


class CborError(ValueError):
    """Bytes that are not the strict, bounded dag-cbor we accept."""


class _CborReader:
    def __init__(self, data: bytes | memoryview, max_depth: int) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.max_depth = max_depth

    def _take(self, count: int) -> memoryview:
        if count > len(self.data) - self.pos:
            raise CborError("truncated CBOR")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def _head(self) -> tuple[int, int, int]:
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 31
        if info < 24:
            return major, info, info
        if info in (24, 25, 26, 27):
            return major, int.from_bytes(self._take(1 << (info - 24)), "big"), info
        raise CborError("indefinite lengths and reserved values are not dag-cbor")

    def item(self, depth: int = 0) -> object:
        if depth > self.max_depth:
            raise CborError(f"CBOR nested deeper than {self.max_depth} levels")
        major, value, info = self._head()
        if major == 0:
            return value
        if major == 1:
            return -1 - value
        if major == 2:
            return bytes(self._take(value))
        if major == 3:
            # Not checked for UTF-8, like go-ipld-prime: Filecoin's HAMTs put raw bytes here.
            return str(self._take(value), "utf-8", "surrogateescape")
        if major in (4, 5) and value > len(self.data) - self.pos:
            raise CborError("truncated CBOR")  # every item takes at least one byte
        if major == 4:
            return [self.item(depth + 1) for _ in range(value)]
        if major == 5:
            result: dict[str, object] = {}
            for _ in range(value):
                key = self.item(depth + 1)
                if not isinstance(key, str):
                    raise CborError("map keys must be text")
                result[key] = self.item(depth + 1)
            return result
        if major == 6:
            if value != CID_TAG:
                raise CborError(f"tag {value} is not allowed in dag-cbor (only 42, a CID)")
            raw = self.item(depth + 1)
            if not isinstance(raw, bytes) or not raw.startswith(b"\x00"):
                raise CborError("tag 42 must wrap bytes starting with 0x00")
            try:
                cid, end = BlockCid.from_bytes(raw, 1)
            except InvalidInput as err:
                raise CborError(err.problem) from None
            if end != len(raw):
                raise CborError("trailing bytes after a CID")
            return narrow(cid)
        if info < 24 and value in (20, 21, 22):
            return {20: False, 21: True, 22: None}[value]
        if info in (25, 26, 27):
            width, form = {25: (2, ">e"), 26: (4, ">f"), 27: (8, ">d")}[info]
            return struct.unpack(form, value.to_bytes(width, "big"))[0]
        raise CborError(f"unsupported CBOR simple value {value}")


def decode_cbor(data: bytes | memoryview, *, max_depth: int = MAX_CBOR_DEPTH) -> object:
    """One whole dag-cbor item (CIDs as :class:`Cid` or :class:`BlockCid`)."""
    reader = _CborReader(data, max_depth)
    item = reader.item()
    if reader.pos != len(reader.data):
        raise CborError("trailing bytes after the CBOR item")
    return item


def _cids_in(item: object) -> Iterator[AnyCid]:
    stack = [item]
    while stack:
        value = stack.pop()
        if isinstance(value, Cid | BlockCid):
            yield value
        elif isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            stack.extend(reversed(list(value.values())))


# -- links and walks -----------------------------------------------------------------------------


def links_of(cid: AnyCid, block: bytes) -> list[AnyCid]:
    """The CIDs ``block`` links to, in order; raw, identity and libp2p-key blocks link nowhere."""
    try:
        if cid.codec == DAG_PB:
            return [link.cid for link in decode_node(block).links]
        if cid.codec == DAG_CBOR:
            return list(_cids_in(decode_cbor(block)))
    except (MalformedNode, CborError) as err:
        raise IntegrityError(
            f"block {cid} is not valid {codec_name(cid.codec)}: {err}",
            "the content is damaged or forged; do not use it",
        ) from None
    if cid.codec in (RAW, LIBP2P_KEY):
        return []
    raise InvalidInput(
        f"cannot follow the links of block {cid}: codec {codec_name(cid.codec)} is not "
        "supported here (raw, dag-pb and dag-cbor are)",
        "import the CAR with --no-pin, or pin it on a Kubo node",
    )


def walk(
    get_block: Callable[[AnyCid], bytes], root: AnyCid, *, read_raw: bool = True
) -> Iterator[tuple[AnyCid, bytes]]:
    """Every block of a DAG of any supported codec once, depth-first in link order.

    Identity blocks come from their CID, never from ``get_block``. With ``read_raw=False``
    raw leaves are yielded with empty bytes instead of being read (enough to mark a pin).
    """
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.multihash in seen:
            continue
        seen.add(cid.multihash)
        if is_inline(cid):
            assert isinstance(cid, BlockCid)
            block = cid.digest
        elif cid.codec == RAW and not read_raw:
            yield cid, b""
            continue
        else:
            block = get_block(cid)
        yield cid, block
        stack.extend(reversed(links_of(cid, block)))
