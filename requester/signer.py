"""Who signs the requester's transactions: the seam between the API and key management.

The API builds complete transactions with web3.py and hands them to a :class:`Signer` for the
signature only, so the same code path serves a plain key (:class:`KeySigner`, the ``requester``
CLI: ape's account files read without importing ape) and an ape account (the ape scripts, see
:class:`requester.ape_support.ApeSigner`: keyfile prompts, hardware wallets, ape's test
accounts). A signer never sends anything itself.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.types import TxParams

from jobmarket.chain.accounts import account_address, load_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.token import sign_permit
from jobmarket.node_api import sign_text

#: The transaction fields a signer receives (web3 names): a call to the market, with EIP-1559
#: fees (type 2) or, when the node or web3 instance prices gas the old way, a gas price (type 0).
SIGNED_FIELDS = (
    "chainId",
    "nonce",
    "to",
    "value",
    "data",
    "gas",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "gasPrice",
)


@runtime_checkable
class Signer(Protocol):
    """Signs fully built transactions for one account."""

    @property
    def address(self) -> str:
        """The checksummed address transactions are sent from."""
        ...

    def sign(self, tx: TxParams) -> bytes:
        """The raw signed transaction, ready for ``eth_sendRawTransaction``."""
        ...


def typed_data_signer(signer: Signer) -> Any | None:
    """``signer.sign_typed_data`` (EIP-712 → ``(v, r, s)``), or None for a signer that signs
    transactions only: a token market then posts with an approve instead of a permit."""
    return getattr(signer, "sign_typed_data", None)


def usable_permit(
    client: MarketClient, signer: Signer | None, owner: str, amount: int, deadline: int
) -> tuple[int, int, bytes, bytes] | None:
    """``(deadline, v, r, s)`` for ``post_job_permit``, or None when the post must go by
    ``approve`` + ``post_job_token``: the signer signs transactions only, the token has no
    EIP-2612 permit for the domain we sign for, or it would refuse this signed permit (an
    ``eth_call``: a token that claims a permit it does not honour costs nobody a reverted
    post)."""
    sign_typed = None if signer is None else typed_data_signer(signer)
    if sign_typed is None or not client.supports_permit():
        return None
    v, r, s = sign_typed(client.permit_typed_data(owner, amount, deadline))
    if not client.permit_accepted(owner, amount, deadline, v, r, s):
        return None
    return deadline, v, r, s


def signable(tx: TxParams) -> dict:
    """The fields of ``tx`` that are signed (no ``from``), with an explicit type."""
    fields = {name: tx[name] for name in SIGNED_FIELDS if name in tx}  # type: ignore[literal-required]
    fields["type"] = 0 if "gasPrice" in fields else 2
    return fields


class KeySigner:
    """A signer holding a private key in memory (an eth_account ``LocalAccount``)."""

    def __init__(self, account: LocalAccount) -> None:
        self.account = account

    @property
    def address(self) -> str:
        return to_checksum_address(self.account.address)

    def sign(self, tx: TxParams) -> bytes:
        fields = signable(tx)
        if fields["type"] == 0:  # eth_account signs a legacy transaction without a type
            del fields["type"]
        return bytes(self.account.sign_transaction(fields).raw_transaction)

    def sign_typed_data(self, typed_data: dict[str, Any]) -> tuple[int, bytes, bytes]:
        """``(v, r, s)`` of an EIP-712 message (a token permit)."""
        return sign_permit(self.account.key, typed_data)

    def sign_message(self, text: str) -> str:
        """EIP-191 (``personal_sign``) signature of ``text``, 0x-hex: a provider node's API
        opens a job's live logs to its requester with one (see ``jobmarket.node_api``)."""
        return sign_text(self.account, text)

    def __repr__(self) -> str:
        return f"KeySigner({self.address})"


class NamedAccountSigner:
    """An account named as ape names it (``TEST::N`` or an alias), unlocked on first signature.

    Its address comes straight from the keyfile, so listing jobs or showing a status never asks
    for a passphrase; only a transaction does.
    """

    def __init__(self, name: str, chain_id: int) -> None:
        self.name = name
        self.chain_id = chain_id
        self._address = account_address(name, chain_id)
        self._key: KeySigner | None = None

    @property
    def address(self) -> str:
        return self._address

    def sign(self, tx: TxParams) -> bytes:
        return self._unlocked().sign(tx)

    def sign_typed_data(self, typed_data: dict[str, Any]) -> tuple[int, bytes, bytes]:
        return self._unlocked().sign_typed_data(typed_data)

    def _unlocked(self) -> KeySigner:
        if self._key is None:
            self._key = KeySigner(load_account(self.name, self.chain_id))
        return self._key

    def sign_message(self, text: str) -> str:
        if self._key is None:
            self._key = KeySigner(load_account(self.name, self.chain_id))
        return self._key.sign_message(text)

    def __repr__(self) -> str:
        return f"NamedAccountSigner({self.name!r}, {self.address})"
