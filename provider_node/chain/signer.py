"""The node's only signer: nonces, a journal entry before every broadcast, and receipts.

Rules that make ``kill -9`` at any moment harmless:

* A transaction is built (its gas estimated, so a call the contract would refuse raises
  :class:`TransactionRefused` and nothing is signed), signed, and **journaled with its raw
  bytes, nonce and hash before it is broadcast**. A restarted node confirms it by hash, or
  broadcasts the same bytes again; it never signs a second transaction for the same purpose
  (:meth:`TxManager.ensure`).
* Nonces come from the node, not from the RPC alone: the next nonce is the larger of the
  chain's pending count and the highest nonce in the journal plus one, chosen under a lock
  that other ``provider-node`` processes of the same account (``stake``, ``withdraw``) share.
* Transient RPC failures are retried with backoff; a revert is an answer and is returned to
  the caller as :class:`TransactionRefused` (a lost claim race, a passed deadline), never
  retried blindly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxReceipt

from jobmarket.chain.client import MarketClient, MarketEvent, TransactionRefused
from jobmarket.chain.units import format_price
from jobmarket.errors import UserError
from jobmarket.fileio import locked
from provider_node import metrics
from provider_node.context.logs import emit, first_line
from provider_node.context.retry import Interrupted, is_transient, retry_transient
from provider_node.dev.crashpoints import crash_point
from provider_node.journal.store import Journal, TxRecord, TxStatus

log = logging.getLogger("provider_node")

# The crash-point prefix of each function's "signed, not yet sent" moment (test hooks).
_CRASH_PREFIX = {"claim": "claim", "submit_result": "submit"}
# Receipts are polled every ``poll_s`` for this long, then less and less often.
RECEIPT_POLL_FAST_S = 3.0
RECEIPT_POLL_MAX_S = 1.0
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already exists")
_NONCE_USED = ("nonce too low", "nonce has already been used", "invalid nonce")


class TxDropped(UserError):
    """A journaled transaction will never be mined: another one took its nonce."""


@dataclass(frozen=True)
class Mined:
    """A successful transaction and the JobMarket events it emitted."""

    record: TxRecord
    events: list[MarketEvent]

    def event(self, name: str) -> MarketEvent | None:
        return next((event for event in self.events if event.name == name), None)


class TxManager:
    """Signs, journals, broadcasts and follows the account's transactions to the market."""

    def __init__(
        self,
        client: MarketClient,
        account: LocalAccount,
        journal: Journal,
        lock_path: Path,
        *,
        stop: threading.Event | None = None,
        poll_s: float = 0.1,
        rebroadcast_s: float = 20.0,
    ) -> None:
        self.client = client
        self.w3 = client.w3
        self.account = account
        self.journal = journal
        self.lock_path = Path(lock_path)
        self.stop = stop or threading.Event()
        self.poll_s = poll_s
        self.rebroadcast_s = rebroadcast_s
        self._thread_lock = threading.Lock()

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        function: str,
        *args: Any,
        job_id: int | None = None,
        value: int = 0,
        build: Callable[[int], Any] | None = None,
    ) -> TxRecord:
        """Check, sign, journal and broadcast a call; TransactionRefused if it would revert.

        ``build(nonce)`` builds a call to another contract than the market (the token's
        ``approve``, journaled as ``function`` with ``args`` like any other).
        """
        with self._signer():
            self._broadcast_stragglers()
            nonce = self._next_nonce()
            params = retry_transient(
                lambda: (
                    build(nonce)
                    if build is not None
                    else self.client.build(
                        function,
                        *args,
                        sender=self.account.address,
                        value=value,
                        nonce=nonce,
                        block="pending",
                    )
                ),
                what=f"preparing {function}",
                stop=self.stop,
                log=log,
            )
            signed = self.account.sign_transaction(params)
            record = self.journal.add_tx(
                job_id=job_id,
                function=function,
                args=[_jsonable(arg) for arg in args],
                value=value,
                nonce=nonce,
                raw=bytes(signed.raw_transaction),
                tx_hash=HexBytes(signed.hash).to_0x_hex(),
            )
            if function in _CRASH_PREFIX:
                crash_point(f"{_CRASH_PREFIX[function]}-signed", job_id)
            return self._broadcast(record, fresh=True)

    def ensure(self, function: str, *args: Any, job_id: int, value: int = 0) -> TxRecord:
        """The job's ``function`` transaction: the journaled one unless it failed, else new."""
        latest = self.journal.latest_tx(job_id, function)
        if latest is not None and latest.status in (*TxStatus.UNFINISHED, TxStatus.MINED):
            return latest
        return self.send(function, *args, job_id=job_id, value=value)

    def transact(
        self,
        function: str,
        *args: Any,
        job_id: int | None = None,
        value: int = 0,
        build: Callable[[int], Any] | None = None,
    ) -> Mined:
        """Send and wait: the mined transaction, or TransactionRefused / TxDropped."""
        return self.wait(self.send(function, *args, job_id=job_id, value=value, build=build))

    # -- following ---------------------------------------------------------------------------

    def wait(self, record: TxRecord) -> Mined:
        """Block until ``record`` is mined; rebroadcast it meanwhile if it goes missing."""
        last_broadcast = began = time.monotonic()
        pause = self.poll_s
        while True:
            receipt = self._receipt(record.hash)
            if receipt is not None:
                return self._finish(record, receipt)
            if time.monotonic() - last_broadcast >= self.rebroadcast_s:
                record = self._check_not_replaced(record)
                record = self._broadcast(record, fresh=False)
                last_broadcast = time.monotonic()
            if self.stop.wait(pause):
                raise Interrupted(f"waiting for {record.function} {record.hash}")
            # Quick on a fast chain, and no more than one request a second on a slow one.
            if time.monotonic() - began > RECEIPT_POLL_FAST_S:
                pause = min(pause * 1.5, RECEIPT_POLL_MAX_S)

    def reconcile(self) -> list[TxRecord]:
        """At start: settle what the journal says about unfinished transactions.

        Mined ones are recorded; the others are broadcast again (the same bytes: the same
        transaction). Returns the transactions still pending.
        """
        pending = []
        for record in self.journal.txs(TxStatus.UNFINISHED):
            receipt = self._receipt(record.hash)
            if receipt is not None:
                # A revert is journaled as such; the job's step handles the outcome.
                with suppress(TransactionRefused):
                    self._finish(record, receipt)
                continue
            try:
                record = self._check_not_replaced(record)
            except TxDropped as err:
                emit(log, "tx-dropped", logging.WARNING, tx=record.hash, reason=str(err))
                continue
            pending.append(self._broadcast(record, fresh=False))
            emit(
                log,
                "tx-rebroadcast",
                job=record.job_id,
                function=record.function,
                tx=record.hash,
                nonce=record.nonce,
            )
        return pending

    def confirm_sent(self, older_than_s: float = 5.0) -> None:
        """Record receipts of sent transactions nobody is waiting for any more (e.g. resent
        after a reorg), so the journal says what the chain says."""
        cutoff = time.time() - older_than_s
        for record in self.journal.txs([TxStatus.SENT]):
            if record.updated_at < cutoff and (receipt := self._receipt(record.hash)) is not None:
                with suppress(TransactionRefused):
                    self._finish(record, receipt)

    def orphaned_by_reorg(self, fork_block: int) -> list[TxRecord]:
        """Transactions journaled as mined at or after ``fork_block`` that the chain no longer
        holds (those still mined get their new block number)."""
        orphaned = []
        for record in self.journal.txs((TxStatus.MINED, TxStatus.REVERTED), since_block=fork_block):
            receipt = self._receipt(record.hash)
            if receipt is not None:
                self.journal.update_tx(record.id, block_number=int(receipt["blockNumber"]))
            else:
                orphaned.append(record)
        return orphaned

    def recheck_after_reorg(
        self, fork_block: int, still_right: Callable[[TxRecord], bool]
    ) -> list[TxRecord]:
        """Transactions a reorg removed are sent again (the same signed bytes) only where
        ``still_right`` says they are still the right move for their job as the chain now has
        it; the others are discarded (their nonce is free again). Returns those discarded."""
        discarded = []
        for record in self.orphaned_by_reorg(fork_block):
            keep = still_right(record)
            emit(
                log,
                "tx-reorged",
                logging.WARNING,
                job=record.job_id,
                function=record.function,
                tx=record.hash,
                block=record.block_number,
                action="resent" if keep else "discarded",
            )
            if keep:
                record = self.journal.update_tx(record.id, status=TxStatus.SENT, block_number=None)
                self._broadcast(record, fresh=False)
            else:
                self.discard(record, "a reorg removed it and it no longer fits the job")
                discarded.append(record)
        return discarded

    def discard(self, record: TxRecord, why: str) -> None:
        """Never send ``record`` again (its nonce goes to the next transaction)."""
        self.journal.update_tx(record.id, status=TxStatus.DROPPED, block_number=None, reason=why)

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _signer(self) -> Iterator[None]:
        """One signer at a time, across this process's threads and other node processes."""
        with self._thread_lock, locked(self.lock_path):
            yield

    def _chain_nonce(self, block: str) -> int:
        return int(
            retry_transient(
                lambda: self.w3.eth.get_transaction_count(self.account.address, block),
                what="reading the account's nonce",
                stop=self.stop,
                log=log,
            )
        )

    def _next_nonce(self) -> int:
        pending = self._chain_nonce("pending")
        used = self.journal.highest_used_nonce()
        return max(pending, used + 1 if used is not None else 0)

    def _broadcast_stragglers(self) -> None:
        """Journaled transactions the chain does not know (crash before sending, or evicted
        from the mempool) would leave a nonce gap that stalls every later one: resend them."""
        unfinished = self.journal.txs(TxStatus.UNFINISHED)
        if not unfinished:
            return
        pending = self._chain_nonce("pending")
        for record in unfinished:
            if record.nonce >= pending or record.status == TxStatus.SIGNED:
                self._broadcast(record, fresh=False)

    def _broadcast(self, record: TxRecord, *, fresh: bool) -> TxRecord:
        def send() -> None:
            self.w3.eth.send_raw_transaction(record.raw)

        try:
            retry_transient(send, what=f"sending {record.function}", stop=self.stop, log=log)
        except (Web3RPCError, ValueError) as err:
            message = str(err).lower()
            if any(words in message for words in _ALREADY_KNOWN):
                pass
            elif any(words in message for words in _NONCE_USED):
                if fresh and self._receipt(record.hash) is None:
                    self.journal.update_tx(record.id, status=TxStatus.DROPPED, reason=str(err))
                    raise TxDropped(
                        f"nonce {record.nonce} of {self.account.address} is already used by a "
                        "transaction this node did not sign",
                        "make sure no other program sends from this account",
                    ) from None
            else:
                if fresh:
                    self.journal.update_tx(record.id, status=TxStatus.REJECTED, reason=str(err))
                    raise UserError(
                        f"the RPC refused the {record.function} transaction ({first_line(err)})",
                        f"check the balance of {self.account.address} "
                        f"({format_price(self.client.balance(self.account.address))})",
                    ) from None
                log.warning("rebroadcast of %s refused: %s", record.hash, first_line(err))
        if record.status == TxStatus.SIGNED:
            record = self.journal.update_tx(record.id, status=TxStatus.SENT)
        return record

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        def fetch() -> TxReceipt | None:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None

        return retry_transient(fetch, what="reading a receipt", stop=self.stop, log=log)

    def _finish(self, record: TxRecord, receipt: TxReceipt) -> Mined:
        block, gas = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        price = receipt_gas_price(receipt)
        journaled = self.journal.tx(record.id)
        if journaled is not None and journaled.status not in (TxStatus.MINED, TxStatus.REVERTED):
            # The first time this receipt is read: its gas counts once (a revert costs too).
            metrics.tx_mined(record.function, gas, price)
        if receipt["status"] != 1:
            reason = self.client.mined_revert_reason(receipt)
            self.journal.update_tx(
                record.id,
                status=TxStatus.REVERTED,
                block_number=block,
                gas_used=gas,
                gas_price=price,
                reason=reason,
            )
            raise TransactionRefused(record.function, reason, record.hash)
        record = self.journal.update_tx(
            record.id, status=TxStatus.MINED, block_number=block, gas_used=gas, gas_price=price
        )
        events = [
            event
            for entry in receipt["logs"]
            if HexBytes(entry["address"]) == HexBytes(self.client.address)
            and (event := self.client.decode(entry)) is not None
        ]
        return Mined(record, events)

    def price_missing(self, records: list[TxRecord]) -> int:
        """Journal the gas price of mined transactions journaled without one (before schema
        3), from their receipts; a receipt the RPC no longer has prices it at 0. Returns how
        many were priced."""
        for record in records:
            receipt = self._receipt(record.hash)
            price = receipt_gas_price(receipt) if receipt is not None else 0
            self.journal.update_tx(record.id, gas_price=price)
        return len(records)

    def _check_not_replaced(self, record: TxRecord) -> TxRecord:
        """A transaction whose nonce was mined without it is dead: say so, never resend. One
        discarded meanwhile (after a reorg, see :meth:`discard`) is never resent either."""
        current = self.journal.tx(record.id)
        if current is not None and current.status == TxStatus.DROPPED:
            raise TxDropped(
                f"{record.function} transaction {record.hash} was discarded ({current.reason})",
                "the node decides the job again",
            )
        if self._chain_nonce("latest") <= record.nonce:
            return record
        receipt = self._receipt(record.hash)
        if receipt is not None:
            return record
        self.journal.update_tx(record.id, status=TxStatus.DROPPED, reason="nonce used by another")
        raise TxDropped(
            f"{record.function} transaction {record.hash} was replaced (nonce {record.nonce})",
            "make sure no other program sends from this account",
        )


def receipt_gas_price(receipt: TxReceipt | dict[str, Any]) -> int:
    """Wei paid per unit of gas: the receipt's ``effectiveGasPrice`` (EIP-1559: base fee plus
    the tip actually paid); 0 from an RPC that does not report it."""
    return int(receipt.get("effectiveGasPrice", 0) or 0)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


__all__ = ["Interrupted", "Mined", "TransactionRefused", "TxDropped", "TxManager", "is_transient"]
