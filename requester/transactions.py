"""Sending one requester transaction: checked, funded, signed, mined and accounted for.

Order matters: the balance is checked against the price first (an estimate with more value
than the balance fails without a reason), then the call is estimated (a call the contract
would refuse stops here, with its reason), then the balance is checked against price plus the
most the gas can cost; only then does the signer see the transaction. Nothing is sent unless
every check passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes

from jobmarket.chain.client import (
    MarketClient,
    TransactionRefused,
    max_gas_cost,
    transaction_hash,
)
from jobmarket.chain.rpc import with_retries
from jobmarket.chain.units import ETH, Currency, format_price
from requester.errors import InsufficientFunds, explain_refusal
from requester.signer import Signer


@dataclass(frozen=True)
class TxRecord:
    """A mined requester transaction and what it cost (gas used times the effective gas price)."""

    function: str
    job_id: int | None
    tx_hash: str
    block_number: int
    gas_used: int
    gas_price: int
    value: int
    #: What the transaction put in escrow, in the market's currency (a post's price: the ETH
    #: sent with it, or the tokens pulled by a token market).
    escrowed: int = 0
    currency: Currency = ETH

    @property
    def gas_cost(self) -> int:
        return self.gas_used * self.gas_price

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "job_id": self.job_id,
            "tx_hash": self.tx_hash,
            "block": self.block_number,
            "gas_used": self.gas_used,
            "gas_price_wei": str(self.gas_price),
            "gas_cost_wei": str(self.gas_cost),
            "value_wei": str(self.value),
            **({"escrowed_units": str(self.escrowed)} if not self.currency.is_eth else {}),
        }


def shortfall(what: str, sender: str, balance: int, value: int, gas: int) -> InsufficientFunds:
    needs = f"{format_price(value)} (price) + " if value else ""
    return InsufficientFunds(
        f"insufficient funds for {what}: {sender} holds {format_price(balance)}, "
        f"it needs {needs}up to {format_price(gas)} (gas)",
        "fund the account or lower the price; nothing was sent",
    )


def token_shortfall(currency: Currency, balance: int, price: int) -> InsufficientFunds:
    """The requester holds less of the market's token than the price (gas is ETH, apart), or
    the token refuses to move the price although its ``balanceOf`` says it is there."""
    if balance >= price:
        return InsufficientFunds(
            f"the token refuses to move {currency.format(price)} from your account although "
            f"its balanceOf says you hold {currency.format(balance)} (a blocked account, or a "
            "balance that is not really there)",
            "this token cannot pay for the job; nothing was sent",
        )
    return InsufficientFunds(
        f"your balance is {currency.format(balance)}, the job needs {currency.format(price)} "
        "+ gas in ETH",
        f"get more {currency.symbol} or lower the price; nothing was sent",
    )


def prepare(
    client: MarketClient,
    signer: Signer,
    function: str,
    *args: Any,
    value: int = 0,
    calldata_suffix: bytes = b"",
    build: Callable[[], Any] | None = None,
) -> dict:
    """A fully built, checked transaction (raises instead of returning a doomed one).

    Estimated against the pending block: on a chain that mines only on transactions the
    latest block can be minutes old, and a deadline that passed since then must count.
    ``build`` builds a call to another contract than the market (the token's ``approve``).
    """
    sender = signer.address
    balance = client.balance(sender)
    if balance < value:
        raise shortfall(function, sender, balance, value, 0)
    try:
        if build is not None:
            tx = dict(build())
        else:
            tx = dict(client.build(function, *args, sender=sender, value=value, block="pending"))
    except TransactionRefused as err:
        raise explain_refusal(err) from None
    if calldata_suffix:  # bytes after the arguments (a dispute's reason digest)
        tx["data"] = (
            "0x" + bytes.fromhex(tx["data"].removeprefix("0x")).hex() + calldata_suffix.hex()
        )
    if balance < value + max_gas_cost(tx):
        raise shortfall(function, sender, balance, value, max_gas_cost(tx))
    return tx


def send(
    client: MarketClient,
    signer: Signer,
    function: str,
    *args: Any,
    value: int = 0,
    job_id: int | None = None,
    announce: Callable[[str, str], None] | None = None,
    calldata_suffix: bytes = b"",
    build: Callable[[], Any] | None = None,
    escrowed: int = 0,
) -> tuple[dict, TxRecord]:
    """Check, sign, send and wait for ``function(*args)``; returns the receipt and its record.

    ``announce(function, tx_hash)`` is called before the bytes leave: whatever happens to the
    connection afterwards, the user holds the hash to look the transaction up.
    """
    tx = with_retries(
        lambda: prepare(
            client,
            signer,
            function,
            *args,
            value=value,
            calldata_suffix=calldata_suffix,
            build=build,
        ),
        f"preparing {function}",
    )
    raw = signer.sign(tx)
    tx_hash = transaction_hash(raw)
    if announce is not None:
        announce(function, tx_hash)
    client.send_signed(raw)  # type: ignore[arg-type]
    try:
        receipt = with_retries(
            lambda: client.wait(tx_hash, function), f"waiting for {function} {tx_hash} to be mined"
        )
    except TransactionRefused as err:
        raise explain_refusal(err) from None
    record = TxRecord(
        function=function,
        job_id=job_id,
        tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
        gas_price=int(receipt["effectiveGasPrice"]),
        value=value,
        escrowed=escrowed,
        currency=client.currency,
    )
    return dict(receipt), record
