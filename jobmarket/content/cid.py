"""Content identifiers (CIDs) restricted to what this system produces and accepts.

The chain stores only a sha2-256 digest; a CID adds the version and codec needed to find and
interpret the block. We accept exactly the CIDs that Kubo's defaults produce: sha2-256
multihashes with the ``raw`` (0x55) or ``dag-pb`` (0x70) codec, as CIDv0 (``Qm…``, base58btc)
or CIDv1 (``b…``, base32 lower). Anything else is refused with a clear message, never guessed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from jobmarket.content.multiformats import (
    base32_decode,
    base32_lower,
    base58btc_decode,
    base58btc_encode,
    decode_varint,
    encode_varint,
)
from jobmarket.errors import InvalidInput

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
DIGEST_SIZE = 32

CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}
_MULTIHASH_PREFIX = bytes((SHA2_256, DIGEST_SIZE))


class CidForms:
    """The binary and text forms every kind of CID shares: v0 is the bare multihash (base58btc
    as text), v1 is version, codec and multihash (base32, prefix ``b``)."""

    __slots__ = ()
    version: int
    codec: int
    multihash: bytes

    def __bytes__(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return base58btc_encode(self.multihash)
        return "b" + base32_lower(bytes(self))


@dataclass(frozen=True, slots=True)
class Cid(CidForms):
    """A sha2-256 CID: ``version`` 0 or 1, ``codec`` raw or dag-pb, and the 32-byte digest."""

    version: int
    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise InvalidInput(f"CID version {self.version} is not supported; use 0 or 1")
        if self.codec not in CODEC_NAMES:
            raise InvalidInput(
                f"CID codec 0x{self.codec:x} is not supported; only raw (0x55) and dag-pb (0x70)"
            )
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidInput("a CIDv0 is always dag-pb; use CIDv1 for raw blocks")
        if len(self.digest) != DIGEST_SIZE:
            raise InvalidInput(f"a sha2-256 digest has 32 bytes, got {len(self.digest)}")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_digest(cls, digest: bytes, codec: int = RAW, version: int = 1) -> Cid:
        """The CID of a block whose sha2-256 is ``digest`` (e.g. a digest read from the chain)."""
        return cls(version, codec, bytes(digest))

    @classmethod
    def for_block(cls, data: bytes | memoryview, codec: int, version: int = 1) -> Cid:
        """Hash ``data`` and return its CID; raw blocks are always CIDv1 (as Kubo does)."""
        if codec == RAW:
            version = 1
        return cls(version, codec, hashlib.sha256(data).digest())

    @classmethod
    def parse(cls, text: str) -> Cid:
        """Parse ``Qm…`` (CIDv0) or ``b…``/``z…`` (CIDv1); ``/ipfs/`` prefixes are accepted."""
        if not isinstance(text, str):
            raise InvalidInput(f"a CID must be text, got {type(text).__name__}")
        value = text.strip()
        value = value.removeprefix("/ipfs/").removeprefix("ipfs://").rstrip("/")
        if not value:
            raise InvalidInput("empty CID; give a CID such as bafy… or Qm…")
        try:
            if len(value) == 46 and value.startswith("Qm"):
                return cls._from_v0_multihash(base58btc_decode(value), text)
            prefix, body = value[0], value[1:]
            if prefix in "bB":
                raw = base32_decode(body)
            elif prefix == "z":
                raw = base58btc_decode(body)
            else:
                raise InvalidInput(
                    f"{text!r} is not a CID; expected a CIDv0 (Qm…) or a base32 CIDv1 (b…)"
                )
        except ValueError as err:
            raise InvalidInput(f"{text!r} is not a CID: {err}") from None
        cid, end = cls._decode_binary(raw, text)
        if end != len(raw):
            raise InvalidInput(f"{text!r} is not a CID: trailing bytes after the multihash")
        if cid.version == 0:
            raise InvalidInput(f"{text!r} is not a CID: a multibase CID cannot be version 0")
        return cid

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, offset: int = 0) -> tuple[Cid, int]:
        """Decode a binary CID at ``offset`` (as found in CAR files and dag-pb links)."""
        return cls._decode_binary(bytes(data[offset : offset + 40]), None, offset)

    @classmethod
    def _decode_binary(cls, raw: bytes, text: str | None, base: int = 0) -> tuple[Cid, int]:
        shown = repr(text) if text is not None else "binary CID"
        try:
            if raw[:2] == _MULTIHASH_PREFIX:
                return cls._from_v0_multihash(raw[:34], text), base + 34
            version, pos = decode_varint(raw, 0)
            if version != 1:
                raise InvalidInput(f"{shown} has unsupported CID version {version}")
            codec, pos = decode_varint(raw, pos)
            hash_code, pos = decode_varint(raw, pos)
            length, pos = decode_varint(raw, pos)
        except (ValueError, IndexError):
            raise InvalidInput(f"{shown} is not a CID: malformed header") from None
        if hash_code != SHA2_256 or length != DIGEST_SIZE:
            raise InvalidInput(
                f"{shown} uses multihash 0x{hash_code:x}/{length}; only sha2-256 is supported"
            )
        digest = raw[pos : pos + DIGEST_SIZE]
        if len(digest) != DIGEST_SIZE:
            raise InvalidInput(f"{shown} is not a CID: truncated digest")
        return cls(1, codec, digest), base + pos + DIGEST_SIZE

    @classmethod
    def _from_v0_multihash(cls, multihash: bytes, text: str | None) -> Cid:
        if len(multihash) != 34 or multihash[:2] != _MULTIHASH_PREFIX:
            shown = repr(text) if text is not None else "binary CID"
            raise InvalidInput(f"{shown} is not a CID: not a sha2-256 multihash")
        return cls(0, DAG_PB, multihash[2:])

    # -- views ----------------------------------------------------------------------------------

    @property
    def multihash(self) -> bytes:
        """The multihash (what block stores key on, so v0 and v1 of a block share storage)."""
        return _MULTIHASH_PREFIX + self.digest

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def __repr__(self) -> str:
        return f"Cid({str(self)!r})"

    def to_v1(self) -> Cid:
        """The same block as CIDv1 (what ``ipfs cid base32`` prints)."""
        return Cid(1, self.codec, self.digest)

    def verify(self, data: bytes | memoryview) -> bool:
        """True when ``data`` hashes to this CID's digest."""
        return hashlib.sha256(data).digest() == self.digest
