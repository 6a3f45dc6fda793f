"""CAR (Content Addressable aRchive) files, as ``ipfs dag export`` writes and ``dag import`` reads.

A CARv1 is ``varint(len) dag-cbor({"roots": [CID…], "version": 1})`` followed by sections
``varint(len(cid) + len(block)) cid block``. We write CARv1 (what Kubo exports) and read CARv1
and CARv2 (a CARv1 payload behind a fixed header). Reading verifies every block against its
CID before handing it out; like Kubo's ``dag import`` it takes any codec and any multihash we
can compute (:mod:`jobmarket.content.ipld`: dag-cbor, blake2b-256, identity CIDs, …) and names
the block, the codec and the hash when it cannot check one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jobmarket.content.blockstore import MAX_BLOCK_SIZE
from jobmarket.content.ipld import CID_TAG, AnyCid, BlockCid, CborError, decode_cbor, narrow
from jobmarket.content.multiformats import encode_varint
from jobmarket.errors import IntegrityError, InvalidInput

CARV2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")
MAX_HEADER_SIZE = 1024 * 1024
MAX_HEADER_DEPTH = 16
MAX_SECTION_CID = 256  # room for a CID beside a block of MAX_BLOCK_SIZE (identity ones included)
_SKIP_CHUNK = 64 * 1024


# -- the dag-cbor subset of CAR headers ---------------------------------------------------------


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes((major << 5 | extra,)) + value.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def _cbor_text(text: str) -> bytes:
    raw = text.encode()
    return _cbor_head(3, len(raw)) + raw


def encode_header(roots: list[AnyCid]) -> bytes:
    """The dag-cbor CARv1 header; keys in dag-cbor order (shorter first): roots, version."""
    body = bytearray(_cbor_head(5, 2))
    body += _cbor_text("roots") + _cbor_head(4, len(roots))
    for root in roots:
        cid_bytes = b"\x00" + bytes(root)
        body += _cbor_head(6, CID_TAG) + _cbor_head(2, len(cid_bytes)) + cid_bytes
    body += _cbor_text("version") + _cbor_head(0, 1)
    return encode_varint(len(body)) + bytes(body)


# -- reading and writing -------------------------------------------------------------------------


def write_car(out: BinaryIO, roots: list[AnyCid], blocks: Iterable[tuple[AnyCid, bytes]]) -> int:
    """Write a CARv1; returns the number of blocks written."""
    out.write(encode_header(roots))
    count = 0
    for cid, block in blocks:
        cid_bytes = bytes(cid)
        out.write(encode_varint(len(cid_bytes) + len(block)))
        out.write(cid_bytes)
        out.write(block)
        count += 1
    return count


@dataclass
class CarReader:
    """Streams the roots and verified blocks of a CARv1 or CARv2 file."""

    stream: BinaryIO
    name: str = "CAR file"

    def __post_init__(self) -> None:
        self._limit: int | None = None
        self._read = 0
        self.roots = self._read_header()

    def _fail(self, problem: str) -> InvalidInput:
        return InvalidInput(
            f"{self.name} is not a valid CAR file: {problem}",
            "export it again with `ipfs dag export` or `requester store export`",
        )

    def _read_exact(self, count: int) -> bytes:
        data = self.stream.read(count)
        self._read += len(data)
        if len(data) != count:
            raise self._fail("unexpected end of file")
        return data

    def _skip(self, count: int) -> None:
        """Pass over ``count`` bytes in bounded reads: the count comes from the untrusted file."""
        while count:
            step = min(count, _SKIP_CHUNK)
            self._read_exact(step)
            count -= step

    def _read_varint(self, allow_eof: bool = False) -> int | None:
        value = 0
        for shift in range(0, 63, 7):
            if self._limit is not None and self._read >= self._limit:
                if shift == 0 and allow_eof:
                    return None
                raise self._fail("section runs past the CARv2 data size")
            byte = self.stream.read(1)
            self._read += len(byte)
            if not byte:
                if shift == 0 and allow_eof:
                    return None
                raise self._fail("unexpected end of file in a length prefix")
            value |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                return value
        raise self._fail("length prefix is too long")

    def _read_header(self, inner: bool = False) -> list[AnyCid]:
        length = self._read_varint()
        assert length is not None
        if length == 0 or length > MAX_HEADER_SIZE:
            raise self._fail(f"header length {length} is out of range")
        raw = self._read_exact(length)
        if encode_varint(length) + raw == CARV2_PRAGMA:
            if inner:
                raise self._fail("a CARv2 payload must be a CARv1")
            return self._read_v2_header()
        try:
            header = decode_cbor(raw, max_depth=MAX_HEADER_DEPTH)
        except CborError as err:
            raise self._fail(f"header is not dag-cbor: {err}") from None
        if not isinstance(header, dict) or header.get("version") != 1:
            raise self._fail("header version is not 1")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(root, AnyCid) for root in roots):
            raise self._fail("header roots must be a list of CIDs")
        return list(roots)

    def _read_v2_header(self) -> list[AnyCid]:
        fixed = self._read_exact(40)
        data_offset = int.from_bytes(fixed[16:24], "little")
        data_size = int.from_bytes(fixed[24:32], "little")
        if data_offset < self._read:
            raise self._fail("CARv2 data offset points into its header")
        self._skip(data_offset - self._read)
        inner_start = self._read
        roots = self._read_header(inner=True)
        self._limit = inner_start + data_size
        return roots

    def blocks(self) -> Iterator[tuple[AnyCid, bytes]]:
        """Each block, after checking that it hashes to the CID it is filed under.

        Identity blocks are checked too (the block must equal the digest); a block whose hash
        cannot be computed here stops the import with a message naming it.
        """
        while True:
            length = self._read_varint(allow_eof=True)
            if length is None:
                return
            if length == 0:
                if self._limit is not None:
                    return  # CARv2 payloads may be zero-padded
                raise self._fail("empty section")
            if length > MAX_BLOCK_SIZE + MAX_SECTION_CID:
                raise self._fail(f"section of {length} bytes exceeds the block size limit")
            section = self._read_exact(length)
            try:
                cid, offset = BlockCid.from_bytes(section)
            except InvalidInput as err:
                raise self._fail(f"section CID: {err.problem}") from None
            block = section[offset:]
            problem = cid.problem()
            if problem is not None:
                raise InvalidInput(
                    f"{self.name} holds block {cid} ({cid.codec_name}) that cannot be "
                    f"verified: {problem}",
                    "only sha2-256/512, sha3, blake2b and blake2s hashes and identity CIDs "
                    "can be checked; export the DAG hashed with one of them",
                )
            if not cid.verify(block):
                raise IntegrityError(
                    f"block {cid} in {self.name} does not match its CID",
                    "the CAR file is corrupted or forged; do not import it",
                )
            yield narrow(cid), block


@contextmanager
def open_car(path: str | os.PathLike[str]) -> Iterator[CarReader]:
    """A :class:`CarReader` on a regular file (a pipe could not be read twice, as Kubo needs)."""
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"{source} does not exist or is not a file; check the path")
    try:
        stream = open(source, "rb")  # noqa: SIM115 - closed below, once the error is mapped
    except PermissionError:
        raise InvalidInput(f"{source} is not readable; check its permissions") from None
    with stream:
        yield CarReader(stream, name=str(source))
