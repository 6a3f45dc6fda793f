"""dag-pb and UnixFS protobuf encoding, byte-for-byte as Kubo writes them.

Kubo (go-codec-dagpb) writes a PBNode as its Links first, then Data; every link carries Hash,
Name (present even when empty) and Tsize. UnixFS ``Data`` messages carry Type, Data, filesize
and blocksizes in field order, blocksizes unpacked. A one-byte difference changes every CID
above it, so the layout here is deliberately explicit rather than generated.

Decoding accepts any well-formed dag-pb (other importers may order or omit fields) but rejects
unknown fields and malformed input: we parse bytes fetched from untrusted peers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.multiformats import decode_varint, encode_varint
from jobmarket.errors import InvalidInput

_VARINT = 0
_LEN = 2


class UnixFSType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


class MalformedNode(ValueError):
    """A block that does not decode as dag-pb / UnixFS."""


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: Cid
    name: bytes
    tsize: int


@dataclass(slots=True)
class PBNode:
    links: list[PBLink]
    data: memoryview | bytes | None


@dataclass(slots=True)
class UnixFSData:
    type: UnixFSType
    data: memoryview | bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)
    hash_type: int | None = None  # HAMT shards only
    fanout: int | None = None  # HAMT shards only


# -- encoding ------------------------------------------------------------------------------------


def _len_field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + encode_varint(len(payload)) + payload


def encode_link(cid: Cid, name: bytes, tsize: int) -> bytes:
    """One serialized PBLink (Hash, Name, Tsize), wrapped as PBNode field 2."""
    hash_bytes = bytes(cid)
    body = b"".join(
        (
            b"\x0a",
            encode_varint(len(hash_bytes)),
            hash_bytes,
            b"\x12",
            encode_varint(len(name)),
            name,
            b"\x18",
            encode_varint(tsize),
        )
    )
    return b"\x12" + encode_varint(len(body)) + body


def encode_node(encoded_links: list[bytes], data: bytes | None) -> bytes:
    """A PBNode from already-encoded links (see :func:`encode_link`) and its Data."""
    parts = list(encoded_links)
    if data is not None:
        parts.append(_len_field(0x0A, data))
    return b"".join(parts)


def encode_unixfs(
    kind: UnixFSType,
    data: bytes | None = None,
    filesize: int | None = None,
    blocksizes: list[int] | None = None,
    hash_type: int | None = None,
    fanout: int | None = None,
) -> bytes:
    out = bytearray(b"\x08")
    out += encode_varint(int(kind))
    if data is not None:
        out += _len_field(0x12, data)
    if filesize is not None:
        out += b"\x18" + encode_varint(filesize)
    for size in blocksizes or ():
        out += b"\x20" + encode_varint(size)
    if hash_type is not None:
        out += b"\x28" + encode_varint(hash_type)
    if fanout is not None:
        out += b"\x30" + encode_varint(fanout)
    return bytes(out)


def file_leaf_envelope(chunk_length: int) -> tuple[bytes, bytes]:
    """Bytes before and after a chunk in a dag-pb UnixFS leaf, so a leaf can be hashed and
    written without copying the chunk: ``block = head + chunk + tail``."""
    unixfs_head = b"\x08\x02\x12" + encode_varint(chunk_length)
    unixfs_tail = b"\x18" + encode_varint(chunk_length)
    unixfs_length = len(unixfs_head) + chunk_length + len(unixfs_tail)
    return b"\x0a" + encode_varint(unixfs_length) + unixfs_head, unixfs_tail


EMPTY_DIRECTORY_DATA = encode_unixfs(UnixFSType.DIRECTORY)


# -- decoding ------------------------------------------------------------------------------------


def _fields(buf: memoryview):
    """Yield (field number, wire type, value) where value is an int or a memoryview."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = decode_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = decode_varint(buf, pos)
            yield number, wire, value
        elif wire == _LEN:
            length, pos = decode_varint(buf, pos)
            if pos + length > end:
                raise MalformedNode("length-delimited field runs past the end of the block")
            yield number, wire, buf[pos : pos + length]
            pos += length
        else:
            raise MalformedNode(f"unsupported protobuf wire type {wire}")


def decode_node(block: bytes | memoryview) -> PBNode:
    """Parse a dag-pb block; raises :class:`MalformedNode` on anything unexpected."""
    view = memoryview(block)
    links: list[PBLink] = []
    data = None
    try:
        for number, wire, value in _fields(view):
            if number == 2 and wire == _LEN:
                links.append(_decode_link(value))
            elif number == 1 and wire == _LEN:
                if data is not None:
                    raise MalformedNode("duplicate Data field")
                data = value
            else:
                raise MalformedNode(f"unexpected field {number} in PBNode")
    except ValueError as err:
        raise MalformedNode(str(err)) from None
    return PBNode(links, data)


def _decode_link(buf: memoryview) -> PBLink:
    cid = None
    name = b""
    tsize = 0
    for number, wire, value in _fields(buf):
        if number == 1 and wire == _LEN:
            cid = _common_cid(value)
            if cid is not None:
                continue
            try:
                parsed, end = Cid.from_bytes(value)
            except InvalidInput as err:
                raise MalformedNode(f"link hash is not a supported CID: {err.problem}") from None
            if end != len(value):
                raise MalformedNode("link hash has trailing bytes")
            cid = parsed
        elif number == 2 and wire == _LEN:
            name = bytes(value)
        elif number == 3 and wire == _VARINT:
            tsize = value
        else:
            raise MalformedNode(f"unexpected field {number} in PBLink")
    if cid is None:
        raise MalformedNode("link without a Hash")
    return PBLink(cid, name, tsize)


_V1_SHA256_PREFIXES = {b"\x01\x70\x12\x20": DAG_PB, b"\x01\x55\x12\x20": RAW}


def _common_cid(value: memoryview) -> Cid | None:
    """The two CID layouts Kubo writes (CIDv0, CIDv1 sha2-256), decoded without the general
    parser: a HAMT of 100,000 entries has that many links."""
    if len(value) == 34 and value[0] == 0x12 and value[1] == 0x20:
        return Cid(0, DAG_PB, bytes(value[2:]))
    if len(value) == 36:
        codec = _V1_SHA256_PREFIXES.get(bytes(value[:4]))
        if codec is not None:
            return Cid(1, codec, bytes(value[4:]))
    return None


def decode_unixfs(data: bytes | memoryview | None) -> UnixFSData:
    if data is None:
        raise MalformedNode("dag-pb node has no UnixFS Data")
    kind = None
    result = UnixFSData(UnixFSType.RAW)
    try:
        for number, wire, value in _fields(memoryview(data)):
            if number == 1 and wire == _VARINT:
                try:
                    kind = UnixFSType(value)
                except ValueError:
                    raise MalformedNode(f"unknown UnixFS type {value}") from None
            elif number == 2 and wire == _LEN:
                result.data = value
            elif number == 3 and wire == _VARINT:
                result.filesize = value
            elif number == 4 and wire == _VARINT:
                result.blocksizes.append(value)
            elif number == 4 and wire == _LEN:  # packed encoding, written by some importers
                pos = 0
                while pos < len(value):
                    size, pos = decode_varint(value, pos)
                    result.blocksizes.append(size)
            elif number == 5 and wire == _VARINT:
                result.hash_type = value
            elif number == 6 and wire == _VARINT:
                result.fanout = value
            elif number == 7 and wire == _VARINT:
                continue  # mode: not needed to read content
            elif number == 8 and wire == _LEN:
                continue  # mtime
            else:
                raise MalformedNode(f"unexpected field {number} in UnixFS Data")
    except ValueError as err:
        if isinstance(err, MalformedNode):
            raise
        raise MalformedNode(str(err)) from None
    if kind is None:
        raise MalformedNode("UnixFS Data without a Type")
    result.type = kind
    return result
