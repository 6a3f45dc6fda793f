"""Prices: the contract escrows whole gwei, so every price a tool accepts is checked here first.

A price is always handled as an integer number of wei in code; text ("0.01 ether", "250 gwei")
is only parsed at the edge and shown with :func:`format_price`. A market that pays in an ERC-20
token counts in the token's smallest unit; :class:`Currency` parses and shows those amounts in
whole tokens (``12.5`` means 12.5 USDC) and checks prices against the contract's price unit.
"""

import re
from dataclasses import dataclass

from jobmarket.errors import InvalidInput

WEI_PER_GWEI = 10**9
WEI_PER_ETHER = 10**18
# The contract stores a price in 56 bits of gwei (about 72 million ether).
MAX_PRICE_GWEI = 2**56 - 1
MAX_PRICE_WEI = MAX_PRICE_GWEI * WEI_PER_GWEI

_UNITS = {"wei": 1, "gwei": WEI_PER_GWEI, "ether": WEI_PER_ETHER, "eth": WEI_PER_ETHER}
# Decimals of each ETH unit: an amount in it is scaled by 10**decimals to wei.
_UNIT_DECIMALS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}
_BARE_NUMBER = re.compile(r"^\s*[0-9]+(?:\.[0-9]+)?\s*$")
_PRICE_TEXT = re.compile(r"^\s*(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-zA-Z]+)\s*$")
# An amount in plain digits: no sign, exponent, underscore, NaN or infinity.
_PLAIN_AMOUNT = re.compile(r"^(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?$")
# More whole digits than any uint256 amount has: refused before Python builds the number.
MAX_AMOUNT_DIGITS = 80
# How much of a user's text an error line repeats.
_SHOWN_CHARS = 40


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
    """Parse ``"<amount> <unit>"`` (unit: ether, eth, gwei or wei; a bare number is ether, as
    every tool reads a price or a stake) into a valid amount in wei."""
    if _BARE_NUMBER.match(text):
        text = f"{text.strip()} ether"
    match = _PRICE_TEXT.match(text)
    unit = _UNITS.get(match["unit"].lower()) if match else None
    if match is None or unit is None:
        raise InvalidInput(
            f"cannot read the price {shown(text)}",
            "write an amount in ether ('0.01') or with a unit ('250000 gwei', '10000000000 wei')",
        )
    exact = scale_amount(match["amount"], _UNIT_DECIMALS[match["unit"].lower()])
    if exact is None:
        raise InvalidInput(
            f"the price {shown(text)} is a fraction of a wei", "give at most 9 decimals of gwei"
        )
    return check_price(exact)


def scale_amount(digits: str, decimals: int) -> int | None:
    """``digits`` (``"12.5"``: plain digits, at most one point) times ``10**decimals``, exactly
    (Decimal arithmetic rounds to 28 digits); None when that is not a whole number. More than
    :data:`MAX_AMOUNT_DIGITS` whole digits is refused as above any amount the contract takes."""
    match = _PLAIN_AMOUNT.match(digits)
    if match is None:
        raise InvalidInput(
            f"cannot read the amount {shown(digits)}", "write plain digits, e.g. '12.5'"
        )
    whole = match["whole"].lstrip("0")
    fraction = (match["fraction"] or "").rstrip("0")
    if len(whole) > MAX_AMOUNT_DIGITS:
        raise InvalidInput(
            f"the amount {shown(digits)} has {len(whole)} digits, above any the contract takes",
            "give a smaller amount",
        )
    if len(fraction) > decimals:
        return None
    return int(whole or "0") * 10**decimals + int(fraction.ljust(decimals, "0") or "0")


def shown(text: str) -> str:
    """A user's text as an error line quotes it: repr'd, and cut short when long."""
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def round_to_gwei(wei: int) -> int:
    """The nearest whole-gwei amount, never zero for a positive input."""
    return max(WEI_PER_GWEI, (wei + WEI_PER_GWEI // 2) // WEI_PER_GWEI * WEI_PER_GWEI)


def format_price(wei: int) -> str:
    """Show an amount the way a person reads it: ether above 0.001 ETH, gwei below."""
    if wei >= WEI_PER_ETHER // 1000 or wei == 0:
        return f"{_plain(wei, 18)} ETH"
    return f"{_plain(wei, 9)} gwei"


def _plain(amount: int, decimals: int) -> str:
    """``amount / 10**decimals`` in plain digits, exactly (no rounding, no exponent)."""
    whole, fraction = divmod(abs(amount), 10**decimals)
    sign = "-" if amount < 0 else ""
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


@dataclass(frozen=True)
class Currency:
    """What a market escrows, stakes and pays in: ETH or one ERC-20 token.

    Amounts are integers in the currency's smallest unit (wei, or the token's base unit: a
    6-decimal token counts millionths). A price must be a whole multiple of ``price_unit``
    (the contract's rule: 10**(decimals - 9), at least 1) and fit the contract's 56 bits of
    price units. Text is parsed and shown in whole tokens: ``12.5`` is 12.5 USDC.
    """

    symbol: str
    decimals: int
    price_unit: int
    # The token's address; None for ETH.
    token: str | None = None

    @property
    def is_eth(self) -> bool:
        return self.token is None

    @property
    def max_price(self) -> int:
        return MAX_PRICE_GWEI * self.price_unit

    def parse(self, text: str) -> int:
        """Parse ``"12.5"`` or ``"12.5 SYMBOL"`` (ETH markets also take wei/gwei/ether units)."""
        words = text.split()
        if self.is_eth and len(words) == 2 and words[1].lower() in _UNITS:
            return parse_price(text)
        if len(words) == 2 and words[1].lower() == self.symbol.lower():
            words = words[:1]
        if len(words) == 1 and words[0].startswith("-"):
            raise InvalidInput(
                f"the amount {shown(text)} is not a positive number",
                f"write e.g. '12.5 {self.symbol}'",
            )
        if len(words) != 1 or not _PLAIN_AMOUNT.match(words[0]):
            raise InvalidInput(
                f"cannot read the amount {shown(text)}",
                f"write a number of {self.symbol} in plain digits, e.g. '12.5' or "
                f"'12.5 {self.symbol}'",
            )
        exact = scale_amount(words[0], self.decimals)
        if exact is None:
            raise InvalidInput(
                f"the amount {shown(text)} has more decimals than {self.symbol} ({self.decimals})",
                f"give at most {self.decimals} decimals",
            )
        return exact

    def parse_price(self, text: str) -> int:
        """Parse a job price (or a stake) and check it the way the contract will.

        ETH is read as every tool always read it (:func:`parse_price`: a bare number is ether,
        units wei/gwei/ether); a token in whole tokens.
        """
        if self.is_eth:
            return parse_price(text)
        return self.check_price(self.parse(text))

    def check_price(self, amount: int) -> int:
        """Return ``amount`` if the contract would accept it as a price, else InvalidInput."""
        if amount <= 0:
            raise InvalidInput(
                "the price is zero", f"give a price above zero, e.g. 1 {self.symbol}"
            )
        if amount % self.price_unit:
            step = self.format(self.price_unit)
            raise InvalidInput(
                f"the price {self.format(amount)} is not a whole multiple of {step}",
                f"round it to a multiple of {step}",
            )
        if amount > self.max_price:
            raise InvalidInput(
                f"the price {self.format(amount)} is above the contract's maximum",
                f"give at most {self.format(self.max_price)}",
            )
        return amount

    def format(self, amount: int) -> str:
        """An amount as a person reads it: ``12.5 USDC`` (ETH: as :func:`format_price`)."""
        if self.is_eth:
            return format_price(amount)
        return f"{_plain(amount, self.decimals)} {self.symbol}"


ETH = Currency(symbol="ETH", decimals=18, price_unit=WEI_PER_GWEI)


def price_unit_for(decimals: int) -> int:
    """The contract's price unit for a currency with ``decimals`` decimals."""
    return 10 ** (decimals - 9) if decimals > 9 else 1


def amount_json(name: str, amount: int, currency: Currency) -> dict[str, str]:
    """An amount in a JSON document: ``NAME_wei`` in an ETH market (as always), ``NAME_units``
    (the token's smallest unit) in a token market, and ``NAME`` as a person reads it."""
    unit = "wei" if currency.is_eth else "units"
    return {f"{name}_{unit}": str(amount), name: currency.format(amount)}
