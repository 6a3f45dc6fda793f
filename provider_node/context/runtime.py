"""Everything a running node's parts share, built once by ``provider-node run``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from jobmarket.chain.client import MarketClient
from jobmarket.content.store import ContentStore
from provider_node.chain.signer import TxManager
from provider_node.context.identity import NodeIdentity
from provider_node.context.settings import NodeSettings
from provider_node.executor import DockerExecutor
from provider_node.journal.store import Journal
from provider_node.lifecycle.capacity import Capacity
from provider_node.lifecycle.policy import JobPolicy


@dataclass
class Runtime:
    identity: NodeIdentity
    client: MarketClient
    account: LocalAccount
    journal: Journal
    txs: TxManager
    executor: DockerExecutor
    store: ContentStore
    policy: JobPolicy
    capacity: Capacity
    settings: NodeSettings
    stop: threading.Event = field(default_factory=threading.Event)
    # Set whenever a job frees its slot, so the scheduler looks at waiting jobs at once.
    wake: threading.Event = field(default_factory=threading.Event)
    head_timestamp: int = 0

    @property
    def me(self) -> str:
        return self.account.address

    def chain_now(self) -> int:
        """Our best guess of the next block's timestamp: the head's, or the clock if later
        (an idle auto-mining chain's head is older than the block a transaction would get)."""
        return max(self.head_timestamp, int(time.time()))
