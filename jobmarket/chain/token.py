"""The ERC-20 token a market pays in: its metadata, balances, allowances and EIP-2612 permits.

:class:`~jobmarket.chain.client.MarketClient` uses this for token markets; the contract itself
never trusts what a token says beyond the amount it received (see docs/contract-spec.md).
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from jobmarket.chain.units import Currency, price_unit_for
from jobmarket.errors import UserError

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": [{"name": f"a{i}", "type": kind} for i, kind in enumerate(inputs)],
        "outputs": [{"name": "", "type": output}],
    }
    for name, inputs, output in (
        ("symbol", (), "string"),
        ("name", (), "string"),
        ("decimals", (), "uint8"),
        ("balanceOf", ("address",), "uint256"),
        ("allowance", ("address", "address"), "uint256"),
        ("nonces", ("address",), "uint256"),
        ("DOMAIN_SEPARATOR", (), "bytes32"),
    )
] + [
    {
        "type": "function",
        "name": "permit",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": name, "type": kind}
            for name, kind in (
                ("owner", "address"),
                ("spender", "address"),
                ("value", "uint256"),
                ("deadline", "uint256"),
                ("v", "uint8"),
                ("r", "bytes32"),
                ("s", "bytes32"),
            )
        ],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "transfer",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [],  # checked by hand: USDT-style tokens return nothing
    },
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
        # No outputs declared: USDT-style tokens return nothing, and the receipt's status is
        # what counts.
        "outputs": [],
    },
]
# The version most EIP-2612 tokens put in their EIP-712 domain ("1"; USDC uses "2").
DEFAULT_PERMIT_VERSION = "1"
# The domain versions a permit is looked for under, in order.
PERMIT_VERSIONS = (DEFAULT_PERMIT_VERSION, "2")
# The selector of ``decimals()``, and the most decimals a market takes (the contract's rule).
DECIMALS_CALL = "0x313ce567"
MAX_DECIMALS = 18
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def token_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=ERC20_ABI)


def read_currency(w3: Web3, address: str, price_unit: int) -> Currency:
    """The token's symbol and decimals, checked against the market's ``price_unit`` (fixed
    from the decimals at deployment): a token that now answers other decimals, or none, would
    have every amount shown a power of ten off, so it is refused in one line."""
    token = token_contract(w3, address)
    decimals = _read_decimals(w3, address)
    if decimals is None or decimals > MAX_DECIMALS or price_unit_for(decimals) != price_unit:
        said = "no decimals" if decimals is None else f"{decimals} decimals"
        raise UserError(
            f"the market's token {address} now answers {said}, not what the market was "
            f"deployed with (price unit {price_unit}): its amounts cannot be shown in tokens",
            "do not use this market: its token changes its own decimals",
        )
    try:
        symbol = str(token.functions.symbol().call()).strip() or "tokens"
    except (ContractLogicError, BadFunctionCallOutput, ValueError, OverflowError):
        symbol = "tokens"  # e.g. a bytes32 symbol, as some old tokens have
    return Currency(
        symbol=_printable_symbol(symbol),
        decimals=decimals,
        price_unit=price_unit_for(decimals),
        token=to_checksum_address(address),
    )


def _read_decimals(w3: Web3, address: str) -> int | None:
    """``decimals()`` read as the contract reads it at deployment: exactly one 32-byte word
    (a revert or any other answer is None)."""
    try:
        answer = bytes(w3.eth.call({"to": to_checksum_address(address), "data": DECIMALS_CALL}))
    except (ContractLogicError, ValueError):
        return None
    return int.from_bytes(answer, "big") if len(answer) == 32 else None


def _printable_symbol(symbol: str) -> str:
    """A token's own text is hostile input: keep a short run of visible characters only."""
    kept = "".join(ch for ch in symbol if ch.isprintable() and not ch.isspace())[:16]
    return kept or "tokens"


def permit_typed_data(
    *,
    token_name: str,
    chain_id: int,
    token: str,
    owner: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
    version: str = DEFAULT_PERMIT_VERSION,
) -> dict[str, Any]:
    """The EIP-712 message an EIP-2612 ``permit(owner, spender, value, deadline, v, r, s)``
    checks, for a signer that signs typed data (``eth_signTypedData_v4``)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token_name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(token),
        },
        "message": {
            "owner": to_checksum_address(owner),
            "spender": to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def domain_separator(
    token_name: str, chain_id: int, token: str, version: str = DEFAULT_PERMIT_VERSION
) -> bytes:
    """The EIP-712 domain hash :func:`permit_typed_data` signs for: a token whose
    ``DOMAIN_SEPARATOR()`` differs checks permits against another domain, and ours would
    revert."""
    return Web3.keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                Web3.keccak(text=DOMAIN_TYPE),
                Web3.keccak(text=token_name),
                Web3.keccak(text=version),
                chain_id,
                to_checksum_address(token),
            ],
        )
    )


def sign_permit(private_key: Any, typed_data: dict[str, Any]) -> tuple[int, bytes, bytes]:
    """``(v, r, s)`` of a permit, as ``post_job_permit`` takes them."""
    signed = Account.sign_typed_data(private_key, full_message=typed_data)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
