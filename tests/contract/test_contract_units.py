"""Prices are whole gwei (whole price units of a token): tools check them before a transaction,
with the contract's limits."""

import re

import pytest

from jobmarket.chain.units import (
    ETH,
    MAX_PRICE_WEI,
    WEI_PER_GWEI,
    Currency,
    check_price,
    format_price,
    parse_price,
    price_unit_for,
    round_to_gwei,
)
from jobmarket.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("0.01 ether", 10**16),
        ("0.01 ETH", 10**16),
        ("1 eth", 10**18),
        ("250000 gwei", 250_000 * WEI_PER_GWEI),
        ("1.5 gwei", None),
        ("10000000000 wei", 10**10),
        ("  2  Ether ", 2 * 10**18),
        ("0.000000001 ether", WEI_PER_GWEI),
        ("0.1", 10**17),  # a bare number is ether: `provider-node stake 0.1` like `--price 0.01`
    ],
)
def test_parse_price(text, wei):
    if wei is None:
        with pytest.raises(InvalidInput, match="not a whole number of gwei"):
            parse_price(text)
    else:
        assert parse_price(text) == wei


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ten ether", "cannot read the price"),
        ("5 dollars", "cannot read the price"),
        ("-1 ether", "cannot read the price"),
        ("0 ether", "the price is zero"),
        ("0.0000000000000000001 ether", "fraction of a wei"),
        ("100000000 ether", "above the contract's maximum"),
    ],
)
def test_a_bad_price_says_what_to_write(text, problem):
    with pytest.raises(InvalidInput) as raised:
        parse_price(text)
    assert problem in raised.value.message
    assert "; " in raised.value.message  # what is wrong; what to do


def test_check_price_accepts_exactly_the_contracts_range():
    assert check_price(WEI_PER_GWEI) == WEI_PER_GWEI
    assert check_price(MAX_PRICE_WEI) == MAX_PRICE_WEI
    for bad in (0, -WEI_PER_GWEI, WEI_PER_GWEI + 1, MAX_PRICE_WEI + WEI_PER_GWEI):
        with pytest.raises(InvalidInput):
            check_price(bad)


def test_round_to_gwei_suggests_a_valid_price():
    assert round_to_gwei(1) == WEI_PER_GWEI
    assert round_to_gwei(10**16 + 1) == 10**16
    assert round_to_gwei(3 * WEI_PER_GWEI // 2) == 2 * WEI_PER_GWEI


@pytest.mark.parametrize(
    ("wei", "shown"),
    [(10**16, "0.01 ETH"), (10**18, "1 ETH"), (0, "0 ETH"), (250 * WEI_PER_GWEI, "250 gwei")],
)
def test_format_price(wei, shown):
    assert format_price(wei) == shown


USDC = Currency(symbol="USDC", decimals=6, price_unit=price_unit_for(6), token="0x" + "11" * 20)
DAI = Currency(symbol="DAI", decimals=18, price_unit=price_unit_for(18), token="0x" + "22" * 20)


@pytest.mark.parametrize(
    ("currency", "text", "amount"),
    [
        (USDC, "12.5", 12_500_000),
        (USDC, "12.5 USDC", 12_500_000),
        (USDC, "0.000001", 1),
        (DAI, "0.000000001", 10**9),
        (ETH, "0.01 ether", 10**16),
        (ETH, "0.01", 10**16),
    ],
)
def test_a_price_is_read_in_whole_tokens(currency, text, amount):
    assert currency.parse_price(text) == amount


@pytest.mark.parametrize(
    ("currency", "text", "message"),
    [
        (USDC, "1.0000001", "has more decimals than USDC (6)"),
        (USDC, "12.5 DAI", "cannot read the amount '12.5 DAI'"),
        (USDC, "-3", "is not a positive number"),
        (USDC, "0", "the price is zero"),
        (DAI, "0.0000000015", "is not a whole multiple of 0.000000001 DAI"),
        (USDC, "80000000000", "above the contract's maximum"),
    ],
)
def test_a_price_the_contract_would_refuse_is_refused_with_what_to_do(currency, text, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        currency.parse_price(text)


def test_token_amounts_are_shown_with_the_symbol_and_eth_as_before():
    assert USDC.format(12_500_000) == "12.5 USDC"
    assert USDC.format(1) == "0.000001 USDC"
    assert ETH.format(10**16) == format_price(10**16) == "0.01 ETH"
    assert (price_unit_for(6), price_unit_for(9), price_unit_for(18)) == (1, 1, 10**9)


WIDE = Currency(symbol="W36", decimals=36, price_unit=10**27, token="0x" + "36" * 20)


@pytest.mark.parametrize(
    ("currency", "text", "message"),
    [
        # Python's Decimal keeps 28 digits: this price was read as exactly 1 W36.
        (WIDE, "1.0000000000000000000000000001", "not a whole multiple of 0.000000001 W36"),
        (WIDE, "1." + "0" * 36 + "1", "has more decimals than W36 (36)"),
        (USDC, "1e3", "cannot read the amount '1e3'"),
        (USDC, "1E-7", "cannot read the amount"),
        (USDC, "1e999999999", "cannot read the amount"),  # was a decimal.Overflow traceback
        (USDC, "NaN", "cannot read the amount"),
        (USDC, "Infinity", "cannot read the amount"),
        (USDC, "1_000", "cannot read the amount '1_000'"),
        (USDC, "0x10", "cannot read the amount"),
        (USDC, "-0", "is not a positive number"),
        (USDC, "9" * 5000, "has 5000 digits, above any the contract takes"),
        (USDC, str(2**256), "above the contract's maximum"),
        (ETH, "9" * 5000 + " ether", "has 5000 digits, above any the contract takes"),
        (ETH, "72057594.037927935000000000000001 ether", "is a fraction of a wei"),
    ],
)
def test_a_price_is_read_exactly_and_odd_notations_are_refused_in_a_short_line(
    currency, text, message
):
    with pytest.raises(InvalidInput, match=re.escape(message)) as refused:
        currency.parse_price(text)
    assert len(str(refused.value)) < 300


def test_amounts_are_shown_exactly_whatever_the_decimals():
    assert WIDE.format(10**36 + 10**27) == "1.000000001 W36"
    assert WIDE.format(123456789012345678901234567890123456789) == (
        "123.456789012345678901234567890123456789 W36"
    )
    assert WIDE.parse_price("123.456789012") == 123456789012 * 10**27
    assert format_price(MAX_PRICE_WEI) == "72057594.037927935 ETH"
