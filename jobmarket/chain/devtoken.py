"""Test ERC-20 tokens on a development chain, for the demo and the tests of the tools.

The tokens are the project's own test contracts (``contracts/test/TestToken.vy``: EIP-2612
permit, any decimals, optional fee on transfer; ``NoReturnToken.vy``: USDT-style, no boolean,
no permit), compiled here with the pinned vyper (about a second, nothing downloaded) and
deployed with web3, so a script outside ape (``make demo TOKEN=1``) can use them too. Anyone
may mint them: they exist only on test chains.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from jobmarket.errors import NotFound, UserError

SOURCES = Path(__file__).resolve().parents[2] / "contracts" / "test"
#: The test contract of each kind, and whether its constructor takes ``fails_quietly``.
KINDS = {"permit": ("TestToken", True), "no-return": ("NoReturnToken", False)}


@cache
def compiled(contract: str) -> dict[str, Any]:
    """``{"abi": …, "bytecode": …}`` of ``contracts/test/<contract>.vy`` (compiled once)."""
    import vyper

    path = SOURCES / f"{contract}.vy"
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(
            f"the test token source {path} is missing",
            "run this from a checkout of the repository (test tokens are for test chains)",
        ) from None
    return vyper.compile_code(source, output_formats=["abi", "bytecode"])


def deploy_test_token(
    w3: Web3,
    deployer: LocalAccount,
    *,
    kind: str = "permit",
    name: str = "Test USD",
    symbol: str = "tUSD",
    decimals: int = 6,
) -> Contract:
    """Deploy a test token (``kind``: ``permit`` or ``no-return``) and return it."""
    contract, quiet_flag = KINDS[kind]
    code = compiled(contract)
    factory = w3.eth.contract(abi=code["abi"], bytecode=code["bytecode"])
    args: tuple[Any, ...] = (
        (name, symbol, decimals, False) if quiet_flag else (name, symbol, decimals)
    )
    tx = factory.constructor(*args).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
        }
    )
    receipt = _send(w3, deployer, tx)
    return w3.eth.contract(address=receipt["contractAddress"], abi=code["abi"])


def token_call(w3: Web3, sender: LocalAccount, call: Any) -> dict[str, Any]:
    """Send one token transaction (``token.functions.mint(a, n)``) and wait for it."""
    tx = call.build_transaction(
        {"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")}
    )
    return _send(w3, sender, tx)


def _send(w3: Web3, sender: LocalAccount, tx: dict[str, Any]) -> dict[str, Any]:
    signed = sender.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.05)
    if receipt["status"] != 1:
        raise UserError(
            f"test token transaction {HexBytes(tx_hash).to_0x_hex()} reverted",
            "check the test chain",
        )
    return dict(receipt)
