"""The few multiformats primitives a CID needs: unsigned varints, base32 and base58btc.

Written out here (standard library only) because the content layer must stay dependency-free
and these are small, fully specified encodings.
"""

import base64

_BASE58_ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}

MAX_VARINT_BYTES = 9  # multiformats caps varints at 63 bits


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as used by multiformats, protobuf and CAR section lengths."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Read a minimally encoded varint at ``offset``; return (value, offset after it)."""
    if offset < len(data) and data[offset] < 0x80:  # one byte: most tags and lengths
        return data[offset], offset + 1
    value = 0
    shift = 0
    for index in range(offset, min(len(data), offset + MAX_VARINT_BYTES)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and index > offset:
                raise ValueError("varint is not minimally encoded")
            return value, index + 1
        shift += 7
    raise ValueError("truncated or oversized varint")


def base32_lower(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding (multibase prefix ``b``)."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def base32_decode(text: str) -> bytes:
    """Decode unpadded RFC 4648 base32 in either case; ValueError when malformed."""
    padding = "=" * (-len(text) % 8)
    try:
        return base64.b32decode(text.upper() + padding)
    except ValueError:
        raise ValueError("not valid base32") from None


def base58btc_encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 (CIDv0 and multibase prefix ``z``)."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = bytearray()
    while number:
        number, remainder = divmod(number, 58)
        out.append(_BASE58_ALPHABET[remainder])
    out.extend(b"1" * zeros)
    out.reverse()
    return out.decode("ascii")


def base58btc_decode(text: str) -> bytes:
    """Inverse of :func:`base58btc_encode`; rejects characters outside the alphabet."""
    number = 0
    for char in text.encode("ascii", errors="replace"):
        digit = _BASE58_INDEX.get(char)
        if digit is None:
            raise ValueError("not valid base58btc")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
