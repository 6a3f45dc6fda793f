"""HAMT-sharded UnixFS directories: the layout rules both the importer and the reader apply.

Kubo (boxo ``ipld/unixfs/hamt``) stores a directory too large for one block as a hash array
mapped trie. What decides the bytes, and therefore the CIDs:

* each entry name is hashed with murmur3 x64 128-bit, seed 0, keeping the first 64 bits
  big-endian (``hashType`` 0x22); level ``L`` of the trie takes bits ``[L·k, (L+1)·k)`` of
  that hash, most significant first, where ``fanout = 2**k`` (256 by default, so one byte);
* a slot holding one entry is a leaf link named ``<index as %02X><entry name>`` pointing at
  the entry itself; a slot holding several entries is a sub-shard linked as ``<%02X>`` alone
  (trie order does not depend on insertion order: boxo collapses shards on removal);
* links are in slot order; the UnixFS Data is Type HAMTShard, Data = the bitfield of used
  slots as a big-endian integer without leading zero bytes, hashType, fanout.

A 64-bit hash gives ``64 // k`` levels; two names with the same 64-bit hash cannot be stored
(boxo fails with "sharded directory too deep"), and a reader refuses anything deeper.
"""

from __future__ import annotations

HASH_MURMUR3 = 0x22
DEFAULT_FANOUT = 256
MAX_FANOUT = 1024  # boxo's maximumHamtWidth
MIN_FANOUT = 8  # boxo's bitfield needs whole bytes
HASH_BITS = 64

_MASK64 = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK64


def _fmix(value: int) -> int:
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & _MASK64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & _MASK64
    return value ^ (value >> 33)


def murmur3_64(data: bytes) -> int:
    """boxo's HAMT hash: the first 64 bits of murmur3 x64_128 (seed 0), as an integer."""
    length = len(data)
    h1 = h2 = 0
    c1, c2, mask = _C1, _C2, _MASK64
    blocks = length // 16
    for block in range(blocks):
        k1 = int.from_bytes(data[block * 16 : block * 16 + 8], "little")
        k2 = int.from_bytes(data[block * 16 + 8 : block * 16 + 16], "little")
        k1 = (k1 * c1) & mask
        k1 = ((k1 << 31) | (k1 >> 33)) & mask
        h1 ^= (k1 * c2) & mask
        h1 = ((h1 << 27) | (h1 >> 37)) & mask
        h1 = (h1 + h2) & mask
        h1 = (h1 * 5 + 0x52DCE729) & mask
        k2 = (k2 * c2) & mask
        k2 = ((k2 << 33) | (k2 >> 31)) & mask
        h2 ^= (k2 * c1) & mask
        h2 = ((h2 << 31) | (h2 >> 33)) & mask
        h2 = (h2 + h1) & mask
        h2 = (h2 * 5 + 0x38495AB5) & mask
    tail = data[blocks * 16 :]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        k2 = (k2 * c2) & mask
        h2 ^= (_rotl(k2, 33) * c1) & mask
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        k1 = (k1 * c1) & mask
        h1 ^= (_rotl(k1, 31) * c2) & mask
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & mask
    h2 = (h2 + h1) & mask
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    return (h1 + h2) & mask


def fanout_problem(fanout: int | None) -> str | None:
    """Why ``fanout`` is not a width boxo builds and reads, or None when it is."""
    if fanout is None:
        return "has no fanout"
    if not MIN_FANOUT <= fanout <= MAX_FANOUT or fanout & (fanout - 1):
        return f"has fanout {fanout}; a HAMT fanout is a power of two from 8 to {MAX_FANOUT}"
    return None


def bits_per_level(fanout: int) -> int:
    return fanout.bit_length() - 1


def max_levels(fanout: int) -> int:
    """How many trie levels a 64-bit hash can address at this fanout."""
    return HASH_BITS // bits_per_level(fanout)


def slot(hash_value: int, level: int, fanout: int) -> int:
    """The slot of a name with ``hash_value`` at ``level`` (0 is the root shard)."""
    bits = bits_per_level(fanout)
    return (hash_value >> (HASH_BITS - (level + 1) * bits)) & (fanout - 1)


def prefix_width(fanout: int) -> int:
    """Hex digits of a link name's slot prefix (2 for fanout 256, 3 for 1024)."""
    return len(f"{fanout - 1:X}")


def link_prefix(index: int, fanout: int) -> bytes:
    return f"{index:0{prefix_width(fanout)}X}".encode("ascii")


def encode_bitfield(slots: list[int]) -> bytes:
    """go-bitfield's ``Bytes()``: bit ``i`` set for each used slot, big-endian, no leading 0s."""
    value = 0
    for index in slots:
        value |= 1 << index
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_bitfield(data: bytes | memoryview | None, fanout: int) -> list[int] | None:
    """The used slots in ascending order, or None when the bitfield cannot be this fanout's."""
    raw = bytes(data or b"")
    if len(raw) > fanout // 8:
        return None
    used = []
    top = len(raw) - 1
    for position, byte in enumerate(raw):
        base = (top - position) * 8
        while byte:
            low = byte & -byte
            used.append(base + low.bit_length() - 1)
            byte ^= low
    used.sort()
    return used
