"""Prices: the contract escrows whole gwei, so every price a tool accepts is checked here first.

A price is always handled as an integer number of wei in code; text ("0.01 ether", "250 gwei")
is only parsed at the edge and shown with :func:`format_price`.
"""

import re
from decimal import Decimal, InvalidOperation

from jobmarket.errors import InvalidInput

WEI_PER_GWEI = 10**9
WEI_PER_ETHER = 10**18
# The contract stores a price in 56 bits of gwei (about 72 million ether).
MAX_PRICE_GWEI = 2**56 - 1
MAX_PRICE_WEI = MAX_PRICE_GWEI * WEI_PER_GWEI

_UNITS = {"wei": 1, "gwei": WEI_PER_GWEI, "ether": WEI_PER_ETHER, "eth": WEI_PER_ETHER}
_PRICE_TEXT = re.compile(r"^\s*(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-zA-Z]+)\s*$")


def check_price(wei: int) -> int:
    """Return ``wei`` if the contract would accept it as a job price, else raise InvalidInput."""
    if wei <= 0:
        raise InvalidInput("the price is zero", "give a price above zero, e.g. 0.01 ether")
    if wei % WEI_PER_GWEI:
        raise InvalidInput(
            f"the price {wei} wei is not a whole number of gwei",
            f"round it, e.g. to {round_to_gwei(wei)} wei",
        )
    if wei > MAX_PRICE_WEI:
        raise InvalidInput(
            f"the price {format_price(wei)} is above the contract's maximum",
            f"give at most {format_price(MAX_PRICE_WEI)}",
        )
    return wei


def parse_price(text: str) -> int:
    """Parse ``"<amount> <unit>"`` (unit: ether, eth, gwei or wei) into a valid price in wei."""
    match = _PRICE_TEXT.match(text)
    unit = _UNITS.get(match["unit"].lower()) if match else None
    if match is None or unit is None:
        raise InvalidInput(
            f"cannot read the price {text!r}",
            "write an amount and a unit, e.g. '0.01 ether', '250000 gwei' or '10000000000 wei'",
        )
    try:
        exact = Decimal(match["amount"]) * unit
    except InvalidOperation as err:  # pragma: no cover - the pattern admits only numbers
        raise InvalidInput(f"cannot read the price {text!r}", "write e.g. '0.01 ether'") from err
    if exact != exact.to_integral_value():
        raise InvalidInput(
            f"the price {text!r} is a fraction of a wei", "give at most 9 decimals of gwei"
        )
    return check_price(int(exact))


def round_to_gwei(wei: int) -> int:
    """The nearest whole-gwei amount, never zero for a positive input."""
    return max(WEI_PER_GWEI, (wei + WEI_PER_GWEI // 2) // WEI_PER_GWEI * WEI_PER_GWEI)


def format_price(wei: int) -> str:
    """Show an amount the way a person reads it: ether above 0.001 ETH, gwei below."""
    if wei >= WEI_PER_ETHER // 1000 or wei == 0:
        return f"{_plain(Decimal(wei) / WEI_PER_ETHER)} ETH"
    return f"{_plain(Decimal(wei) / WEI_PER_GWEI)} gwei"


def _plain(amount: Decimal) -> str:
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
