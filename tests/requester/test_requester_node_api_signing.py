"""Every kind of requester account signs a node API log request the way the node checks it
(``jobmarket.node_api``): the address the node recovers is the account's own."""

from __future__ import annotations

import time

from ape import accounts

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.node_api import logs_message, recover_signer
from requester.ape_support import ApeSigner
from requester.signer import KeySigner, NamedAccountSigner

MARKET = "0x" + "ab" * 20
PROVIDER = dev_account(1).address


def _message(stamp: int) -> str:
    return logs_message(7, market=MARKET, chain_id=31337, provider=PROVIDER, timestamp=stamp)


def test_each_signer_is_recovered_as_itself_and_only_for_the_message_it_signed() -> None:
    stamp = int(time.time())
    signers = [
        KeySigner(dev_account(0)),
        NamedAccountSigner("TEST::3", 31337),
        ApeSigner(accounts.test_accounts[4], None),  # type: ignore[arg-type]
    ]
    for signer in signers:
        signature = signer.sign_message(_message(stamp))
        assert recover_signer(_message(stamp), signature) == signer.address, signer
        assert recover_signer(_message(stamp + 1), signature) != signer.address, signer
    assert recover_signer(_message(stamp), "0x1234") is None  # malformed: no signer at all
