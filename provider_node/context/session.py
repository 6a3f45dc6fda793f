"""What every ``provider-node`` command resolves first: chain, market, account, node folder.

Each piece is resolved on first use, so ``--help`` needs no RPC and each command fails on
the first thing it actually lacks, with one line saying what to do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from eth_account.signers.local import LocalAccount

from jobmarket.chain.accounts import load_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.rpc import is_local_chain
from jobmarket.errors import UserError
from provider_node.chain.signer import TxManager
from provider_node.context.identity import NodeIdentity
from provider_node.journal.store import Journal

# On a local chain the node signs as ape/anvil's test account 1 unless told otherwise
# (test account 0 is the requester tools' default).
LOCAL_DEFAULT_ACCOUNT = "TEST::1"


@dataclass
class Session:
    rpc_url: str | None = None
    account_name: str | None = None
    _journal: Journal | None = field(default=None, init=False, repr=False)

    @cached_property
    def client(self) -> MarketClient:
        return MarketClient.connect(self.rpc_url)

    @cached_property
    def account(self) -> LocalAccount:
        chain_id = self.client.chain_id
        name = self.account_name
        if not name:
            if not is_local_chain(chain_id):
                raise UserError(
                    f"no account given for chain {chain_id}",
                    "pass --account ALIAS (an ape account) or set JOBMARKET_ACCOUNT",
                )
            name = LOCAL_DEFAULT_ACCOUNT
        return load_account(name, chain_id)

    @cached_property
    def identity(self) -> NodeIdentity:
        return NodeIdentity.of(self.client, self.account.address)

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            # Prices are journaled in the market's price unit (gwei, or the token's).
            journal = Journal(self.identity.journal_path, self.client.currency.price_unit)
            journal.bind(self.identity.as_meta())
            self._journal = journal
        return self._journal

    def tx_manager(self, *, stop: threading.Event | None = None, poll_s: float = 0.1) -> TxManager:
        """The account's signer, sharing the journal and nonce lock with every other
        ``provider-node`` process of this node."""
        return TxManager(
            self.client,
            self.account,
            self.journal,
            self.identity.signer_lock_path,
            stop=stop,
            poll_s=poll_s,
        )

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
