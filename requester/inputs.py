"""Checks for what a requester types: addresses, job ids, prices, CIDs, input mounts.

Each parser returns a typed value or raises :class:`~jobmarket.errors.InvalidInput` with one
line saying what is wrong and how to write it; the CLI, the ape scripts and the Python API all
call these before anything touches the chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

from jobmarket.chain.units import ETH, Currency
from jobmarket.content.cid import Cid
from jobmarket.errors import InvalidInput
from jobmarket.spec.validation import check_relative_path
from jobmarket.terminal import printable

PRICE_HINT = "write e.g. 0.01 (ether), '0.01 ether' or '250000 gwei'"
_SIGNED_NUMBER = re.compile(r"^\s*[-+]\s*[0-9]")


def parse_address(text: str, *, what: str = "address") -> str:
    """A checksummed address; refuses malformed hex and mixed case with a wrong checksum."""
    value = str(text).strip()
    if not is_hex_address(value):
        raise InvalidInput(
            f"the {what} {text!r} is not an Ethereum address",
            "give 0x followed by 40 hex digits",
        )
    if value != value.lower() and value[2:] != value[2:].upper() and not is_checksum_address(value):
        raise InvalidInput(
            f"the {what} {text!r} has a wrong checksum (a typo?)",
            "copy the address again, or write it all lower case to skip the check",
        )
    return to_checksum_address(value)


def parse_job_id(text: str | int) -> int:
    """A job id: a whole number ≥ 0 (``#3`` is accepted too)."""
    value = str(text).strip().removeprefix("#")
    if not (value.isascii() and value.isdigit()):  # "²".isdigit() is True
        raise InvalidInput(
            f"the job id {text!r} is not a number", "give the number `requester post` printed"
        )
    digits = value.lstrip("0") or "0"
    if len(digits) > 78 or int(digits) >= 2**256:  # job ids are uint256 on chain
        raise InvalidInput(
            f"the job id {digits[:20]}… ({len(digits)} digits) is larger than any job id",
            "give the number `requester post` printed",
        )
    return int(digits)


def price_hint(currency: Currency) -> str:
    """How to write a price in ``currency``."""
    if currency.is_eth:
        return PRICE_HINT
    return f"write a number of {currency.symbol}, e.g. 12.5 or '12.5 {currency.symbol}'"


def parse_price(text: str | int, currency: Currency = ETH) -> int:
    """A price in the market's smallest unit, read with the market's :class:`Currency`:
    ETH from ``0.01`` (ether), ``0.01 ether``, ``250000 gwei`` or ``10 wei``; a token from
    ``12.5`` or ``12.5 tUSD`` (whole tokens). An int is taken as smallest units, checked."""
    if isinstance(text, int):
        return currency.check_price(text)
    if _SIGNED_NUMBER.match(text):
        if text.strip().startswith("-"):
            raise InvalidInput(f"the price {text!r} is negative", "give a price above zero")
        text = text.strip()[1:]
    try:
        return currency.parse_price(text)
    except InvalidInput as err:
        if not err.problem.startswith("cannot read"):
            raise
        raise InvalidInput(err.problem, price_hint(currency)) from None


def parse_cid(text: str, *, what: str = "CID") -> Cid:
    """A CID as ``requester store add`` prints it (``bafy…``, ``bafk…`` or ``Qm…``)."""
    try:
        return Cid.parse(text)
    except InvalidInput as err:
        raise InvalidInput(
            f"the {what} {text!r} is malformed ({err.problem})",
            "copy the CID that `requester store add` printed",
        ) from None


@dataclass(frozen=True)
class NamedPath:
    """A local file or folder to upload, and the name it is mounted under in ``/in``."""

    name: str
    path: Path


@dataclass(frozen=True)
class NamedCid:
    """Content already in the store, and the name it is mounted under in ``/in``."""

    name: str
    cid: Cid


def _mount_name(name: str, source: str) -> str:
    try:
        return check_relative_path(name)
    except ValueError as err:
        raise InvalidInput(
            f"input name '{printable(name[:80])}' {err}", "give a plain name (NAME=PATH)"
        ) from None


def parse_input_path(text: str) -> NamedPath:
    """``PATH`` (mounted at ``/in/<basename>``) or ``NAME=PATH``; the path must exist."""
    name, sep, path_text = text.partition("=")
    if not sep or _exists(text):
        name, path_text = "", text
    path = Path(path_text).expanduser()
    shown = printable(path_text[:200])
    if not _exists(path_text):
        raise InvalidInput(f"input '{shown}' does not exist", "check the path")
    if not (path.is_file() or path.is_dir()):
        raise InvalidInput(f"input '{shown}' is not a file or folder", "give a file or folder")
    return NamedPath(_mount_name(name or path.resolve().name, text), path)


def _exists(text: str) -> bool:
    """Whether a path exists; a path no filesystem could hold (a 300-byte name) does not."""
    try:
        return Path(text).expanduser().exists()
    except (OSError, ValueError):  # ENAMETOOLONG, ELOOP, EACCES; NUL in the name
        return False


def parse_input_cid(text: str) -> NamedCid:
    """``NAME=CID``: content already in the store, mounted at ``/in/NAME``."""
    name, sep, cid_text = text.partition("=")
    if not sep or not name:
        raise InvalidInput(f"cannot read the input {text!r}", "write NAME=CID, e.g. data=bafybei…")
    return NamedCid(_mount_name(name, text), parse_cid(cid_text, what="input CID"))
