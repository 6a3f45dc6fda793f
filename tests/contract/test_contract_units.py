"""Prices are whole gwei: tools check them before a transaction, with the contract's limits."""

import pytest

from jobmarket.chain.units import (
    MAX_PRICE_WEI,
    WEI_PER_GWEI,
    check_price,
    format_price,
    parse_price,
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
        ("5", "cannot read the price"),
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
