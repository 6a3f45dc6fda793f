"""The clock deadlines are measured by: the chain's, as the next block will see it.

A local anvil mines only when a transaction arrives, so its latest block can be minutes old;
its next block takes the wall-clock time (plus any ``evm_increaseTime`` offset, which the
latest block then already shows). The best estimate of the next block's timestamp is hence the
later of the two. Every deadline check and every deadline a tool computes uses :func:`chain_now`.
"""

from __future__ import annotations

import time

from web3 import Web3


def chain_now(w3: Web3) -> tuple[int, int]:
    """The latest block number and the time the next block will (at least) carry."""
    latest = w3.eth.get_block("latest")
    return int(latest["number"]), max(int(latest["timestamp"]), int(time.time()))
