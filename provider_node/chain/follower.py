"""Reading the market's events from a persisted cursor: adaptive ranges, confirmations, reorgs.

Each :meth:`ChainFollower.poll` reads the head block (one RPC when nothing changed), checks
that the last block it read is still part of the chain, and reads the new events in
``eth_getLogs`` ranges that double after each success and shrink when the RPC refuses a range
("too many results", range limits, timeouts); after a refusal the size is searched between
the largest range served and the smallest refused, so it settles just under the RPC's limit.
Events are handed to ``on_events`` inside the same journal transaction that advances the
cursor, so an event is never skipped and, after a crash, at worst handled again (handlers
are idempotent).

Reorgs: the hash of every block range end (and of every block holding an event) is journaled.
When the chain no longer has the hash we stored, the follower walks back through its stored
hashes to the newest block both agree on, rewinds the cursor there, and tells ``on_reorg``
(which rechecks the node's own transactions). anvil's ``anvil_reorg`` sends no
``removed: true`` logs, and neither does an HTTP RPC ever: comparing hashes is the only
reliable signal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hexbytes import HexBytes
from web3.exceptions import BlockNotFound
from web3.types import BlockData

from jobmarket.chain.client import MarketClient, MarketEvent
from provider_node import metrics
from provider_node.context.logs import emit
from provider_node.journal.store import Journal

log = logging.getLogger("provider_node")

# Successful full ranges after which a refused size is tried again.
PROBE_AFTER_SUCCESSES = 32
_RANGE_REFUSALS = (
    "too many",
    "limit",
    "range",
    "exceed",
    "response size",
    "timeout",
    "timed out",
    "query returned more than",
)


@dataclass(frozen=True)
class Head:
    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class PollResult:
    head: Head
    scanned_to: int  # last block whose events have been handled
    events: int
    caught_up: bool


class ChainFollower:
    """Feeds the market's events, in chain order and exactly as the chain now has them."""

    def __init__(
        self,
        client: MarketClient,
        journal: Journal,
        *,
        start_block: int,
        on_events: Callable[[list[MarketEvent]], None],
        on_reorg: Callable[[int], None],
        confirmations: int = 0,
        initial_span: int = 1000,
        max_span: int = 10_000,
        time_budget_s: float = 2.0,
    ) -> None:
        self.client = client
        self.w3 = client.w3
        self.journal = journal
        self.start_block = start_block
        self.on_events = on_events
        self.on_reorg = on_reorg
        self.confirmations = max(0, confirmations)
        self.span = max(1, min(initial_span, max_span))
        self.max_span = max(1, max_span)
        self.time_budget_s = time_budget_s
        self.head: Head | None = None
        self._good = 0  # largest range the RPC served
        self._bad: int | None = None  # smallest range it refused (forgotten now and then)
        self._streak = 0

    @property
    def next_block(self) -> int:
        return self.journal.next_block(self.start_block)

    def poll(self) -> PollResult:
        """Read new events up to the confirmed head (within the time budget)."""
        started = time.monotonic()
        latest = self._block("latest")
        head = Head(int(latest["number"]), _hex(latest["hash"]), int(latest["timestamp"]))
        unchanged = self.head is not None and head.hash == self.head.hash
        self.head = head
        if not unchanged:
            self._check_reorg(head)
        safe = head.number - self.confirmations
        handled = 0
        while self.next_block <= safe:
            count = self._read_range(self.next_block, safe, head)
            if count is None:  # the chain moved under us: the next poll sorts it out
                break
            handled += count
            if time.monotonic() - started > self.time_budget_s:
                break
        scanned_to = self.next_block - 1
        metrics.chain_polled(head.number, head.timestamp, scanned_to, self.confirmations)
        return PollResult(head, scanned_to, handled, scanned_to >= safe)

    # -- ranges ------------------------------------------------------------------------------

    def _read_range(self, first: int, safe: int, head: Head) -> int | None:
        """Read one range from ``first``: the number of events handled, None if the chain
        changed while reading."""
        while True:
            last = min(safe, first + self.span - 1)
            end_hash = head.hash if last == head.number else self._hash_at(last)
            try:
                events = self.client.events(first, last)
            except Exception as err:
                if self.span == 1 or not _refuses_range(err):
                    raise
                self._refused(last - first + 1)
                emit(log, "logs-range-shrunk", logging.DEBUG, span=self.span, error=str(err)[:120])
                continue
            # The range must end on the block we meant: else we read a dying branch, and the
            # next poll finds the reorg and rereads.
            if end_hash is None or self._hash_at(last) != end_hash:
                return None
            with self.journal.transaction():
                if events:
                    self.on_events(events)
                    for number, block_hash in {(e.block_number, e.block_hash) for e in events}:
                        self.journal.remember_block(number, block_hash)
                self.journal.remember_block(last, end_hash)
                self.journal.set_next_block(last + 1)
                self.journal.trim_blocks()
            if last - first + 1 >= self.span:
                self._succeeded(self.span)
            return len(events)

    # -- range sizing: binary search between the largest range served and the smallest refused

    def _refused(self, size: int) -> None:
        self._bad = size if self._bad is None else min(self._bad, size)
        self._streak = 0
        middle = (self._good + self._bad) // 2 if self._good else size // 2
        self.span = max(1, min(middle, size - 1))

    def _succeeded(self, size: int) -> None:
        self._good = max(self._good, size)
        self._streak += 1
        if self._streak >= PROBE_AFTER_SUCCESSES:  # limits change (e.g. with log density)
            self._bad, self._streak = None, 0
        target = size * 2 if self._bad is None else (size + self._bad) // 2
        self.span = max(1, min(self.max_span, target))

    # -- reorgs ------------------------------------------------------------------------------

    def _check_reorg(self, head: Head) -> None:
        remembered = self.journal.remembered_blocks()
        if not remembered:
            return
        newest_number, newest_hash = remembered[0]
        if newest_number <= head.number:
            current = head.hash if newest_number == head.number else self._hash_at(newest_number)
            if current == newest_hash:
                return
        fork = self._fork_point(remembered, head)
        with self.journal.transaction():
            self.journal.forget_blocks_from(fork)
            if self.journal.next_block(self.start_block) > fork:
                self.journal.set_next_block(fork)
        emit(
            log,
            "reorg",
            logging.WARNING,
            fork_block=fork,
            head=head.number,
            replaced=newest_number - fork + 1,
        )
        self.on_reorg(fork)

    def _fork_point(self, remembered: list[tuple[int, str]], head: Head) -> int:
        """The first block that differs: one past the newest remembered block still in place."""
        for number, block_hash in remembered:
            if number > head.number:
                continue
            if self._hash_at(number) == block_hash:
                return number + 1
        oldest = remembered[-1][0]
        emit(log, "reorg-deeper-than-memory", logging.ERROR, rescan_from=oldest)
        return max(self.start_block, oldest)

    def _hash_at(self, number: int) -> str | None:
        try:
            return _hex(self._block(number)["hash"])
        except BlockNotFound:
            return None

    def _block(self, identifier: int | str) -> BlockData:
        return self.w3.eth.get_block(identifier)


def _hex(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return HexBytes(value).to_0x_hex().lower()


def _refuses_range(err: BaseException) -> bool:
    message = str(err).lower()
    return any(words in message for words in _RANGE_REFUSALS)
