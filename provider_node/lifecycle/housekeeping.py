"""Housekeeping: jobs that ended long ago leave the journal's detail and the node's store.

Every :func:`interval_for` seconds (a tenth of ``--retention``, between 1 s and 1 h; once at
start-up too) the housekeeper, in its own thread:

1. **compacts** each job that ended (settled, declined, lost, abandoned, failed) and has not
   changed for ``--retention`` (7 days by default): its journal row and transactions become one
   ``compacted_jobs`` row (final step, payout, gas used and paid, times), in one transaction,
   so the journal stops growing per job. :func:`compaction_blocker` is the rule; it also keeps
   a job whose last event a reorg could still replace, one a rival could still reopen before
   its claim deadline, and one with a transaction not yet mined. The job's leftover folders
   (staged inputs, result folder, executor folder) are removed first;
2. **unpins** the result DAG of every compacted job (unless ``--keep-results``): the embedded
   store deletes the blocks no other pin reaches at once, a Kubo node's GC does it there
   (:meth:`ContentStore.release`). The compacted row names the result until it is released, so
   a crash at any point only makes the next round do the rest. A result that shares a block
   with the inputs of a job not staged yet (:data:`UNSTAGED_STEPS`: a requester may name an
   old result, or a file in it, as a new job's input, which the node then finds in its store
   and does not fetch) waits for a later round: released now, the job would be declined for
   an input the node had, or abandoned (its stake slashed) after its claim;
3. deletes URL-input downloads older than the retention (a job declined while its download
   waited for its claim: a rival claimed it first);
4. drops the input holds (:meth:`ContentStore.hold`, placed by the pipeline when it decides
   to claim) of jobs past staging or gone: the pipeline drops its own, this catches those a
   crash or an event (a rival's claim) left behind.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass

from jobmarket.content import ipld
from jobmarket.content.cid import Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import UserError
from jobmarket.spec.job import JobSpec
from provider_node.context.logs import emit
from provider_node.context.periodic import PeriodicTask
from provider_node.context.runtime import Runtime
from provider_node.io.inputs import remove_staged
from provider_node.journal.store import REMEMBERED_BLOCKS, JobRecord, TxRecord, TxStatus
from provider_node.lifecycle.steps import REOPENABLE_STEPS, UNSTAGED_STEPS, Step

log = logging.getLogger("provider_node")

# Steps a job never leaves again (but through a reorg, which compaction waits out).
ENDED_STEPS = frozenset({Step.SETTLED, Step.DECLINED, Step.LOST, Step.ABANDONED, Step.FAILED})
# A job's last event must be this many blocks (or the confirmations, if more) below the last
# block read before it is compacted: the node keeps this many block hashes to detect reorgs,
# and a reorg deeper than that is beyond what it reconciles (and beyond any chain's finality).
REORG_DEPTH_BLOCKS = REMEMBERED_BLOCKS
# Jobs read (and compacted, in one transaction) at a time.
BATCH = 200


def interval_for(retention_s: float) -> float:
    """Seconds between two rounds: often enough that nothing overstays its retention by
    more than a tenth, never on every loop, at least hourly."""
    return min(3600.0, max(1.0, retention_s / 10))


@dataclass(frozen=True)
class Horizon:
    """What "ended long ago" means at one moment."""

    wall_now: float
    chain_now: int
    retention_s: float
    # The newest block whose events no reorg the node handles can replace any more.
    settled_block: int


def compaction_blocker(job: JobRecord, txs: list[TxRecord], horizon: Horizon) -> str | None:
    """Why ``job`` must keep its full journal record now; None when it may be compacted."""
    if job.step not in ENDED_STEPS:
        return f"still in progress ({job.step})"
    if horizon.wall_now - job.updated_at < horizon.retention_s:
        return "changed within the retention period"
    if job.step in REOPENABLE_STEPS and job.claim_deadline >= horizon.chain_now:
        return "another provider could still give it back before its claim deadline"
    last_event = job.event_block if job.event_block is not None else job.posted_block
    if last_event > horizon.settled_block:
        return "a reorg could still replace its last event"
    if any(tx.status in TxStatus.UNFINISHED for tx in txs):
        return "one of its transactions is not mined yet"
    return None


class Housekeeper(PeriodicTask):
    error_event = "housekeeping-error"
    first_round_at_once = True

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, interval_for(runtime.settings.retention_s), name="housekeeper")

    def horizon(self) -> Horizon:
        scanned_to = self.rt.journal.next_block(self.rt.client.start_block) - 1
        depth = max(REORG_DEPTH_BLOCKS, self.rt.settings.confirmations)
        return Horizon(
            wall_now=time.time(),
            chain_now=self.rt.chain_now(),
            retention_s=self.rt.settings.retention_s,
            settled_block=scanned_to - depth,
        )

    def tick(self) -> tuple[int, int, int]:
        """One round; returns (jobs compacted, results unpinned, blocks deleted)."""
        horizon = self.horizon()
        self._remove_stale_downloads(horizon.wall_now - horizon.retention_s)
        self._drop_stale_holds()
        compacted = self._compact(horizon)
        unpinned = removed = 0
        if not self.rt.settings.keep_results:
            unpinned, removed = self._release_results()
        if compacted or unpinned:
            emit(
                log,
                "housekept",
                compacted=compacted,
                results_unpinned=unpinned,
                blocks_removed=removed,
                retention_s=self.rt.settings.retention_s,
            )
        return compacted, unpinned, removed

    def _compact(self, horizon: Horizon) -> int:
        journal = self.rt.journal
        cutoff = horizon.wall_now - horizon.retention_s
        compacted, after = 0, -1
        while not self.rt.stop.is_set():
            batch = journal.ended_before(ENDED_STEPS, cutoff, BATCH, after_job_id=after)
            if not batch:
                break
            after = batch[-1].job_id
            due = [
                job
                for job in batch
                if compaction_blocker(job, journal.txs(job_id=job.job_id), horizon) is None
            ]
            for job in due:
                # Journaled before schema 3: priced from the receipt, so the total stays exact.
                self.rt.txs.price_missing(journal.gas_prices_missing(job.job_id))
                self._remove_folders(job.job_id)
            with journal.transaction():
                for job in due:
                    # Decided again inside the transaction: an event may have moved the job
                    # since (a reorg), and nothing can move it between this and the compaction.
                    now = journal.job(job.job_id)
                    txs = journal.txs(job_id=job.job_id)
                    if now is not None and compaction_blocker(now, txs, horizon) is None:
                        journal.compact(now.job_id, result_cid=now.result_cid)
                        compacted += 1
        return compacted

    def _release_results(self) -> tuple[int, int]:
        journal = self.rt.journal
        unpinned = removed = 0
        awaited: set[bytes] | None = None
        deferred: set[int] = set()
        while not self.rt.stop.is_set():
            batch = [
                job
                for job in journal.compacted_with_results(BATCH + len(deferred))
                if job.job_id not in deferred
            ]
            if not batch:
                break
            if awaited is None:
                awaited = self._blocks_awaited()
            free = []
            for job in batch:
                result = Cid.parse(job.result_cid or "")
                if awaited and _dag_blocks(self.rt.store, result) & awaited:
                    deferred.add(job.job_id)
                else:
                    free.append(job)
            if not free:
                continue
            removed += self.rt.store.release([Cid.parse(job.result_cid or "") for job in free])
            journal.forget_results(job.job_id for job in free)
            unpinned += len(free)
        if deferred:
            emit(log, "results-kept", results=len(deferred), why="inputs of jobs not staged yet")
        return unpinned, removed

    def _blocks_awaited(self) -> set[bytes]:
        """The blocks (multihashes) of the inputs of every job not staged yet, but for an
        input pinned as itself (its pin keeps it), unless that pin is a result to release."""
        store = self.rt.store
        releasing = {job.result_cid for job in self.rt.journal.compacted_with_results(2**62)}
        kept = {str(cid) for cid in store.pins()} - releasing
        awaited: set[bytes] = set()
        for job in self.rt.journal.jobs(UNSTAGED_STEPS):
            try:
                spec = JobSpec.fetch(store, job.spec_digest)
            except UserError:
                continue  # no spec here: nothing of it was read
            for mount in spec.inputs:
                root = Cid.parse(mount.cid)
                if str(root) not in kept:
                    awaited |= _dag_blocks(store, root)
        return awaited

    def _drop_stale_holds(self) -> None:
        """Input holds of jobs no longer waiting to be staged (or no longer journaled)."""
        identity, journal = self.rt.identity, self.rt.journal
        for name in self.rt.store.held(identity.inputs_hold_prefix):
            job_id = identity.job_of_inputs_hold(name)
            job = journal.job(job_id) if job_id is not None else None
            if job is None or job.step not in UNSTAGED_STEPS:
                self.rt.store.drop(name)

    def _remove_stale_downloads(self, cutoff: float) -> None:
        """URL inputs downloaded for a decision whose job then went elsewhere (a rival's
        claim while it waited for a slot): a download is used within moments of its
        decision, and one needed again is simply fetched again."""
        downloads = self.rt.identity.downloads_folder
        for entry in downloads.iterdir() if downloads.is_dir() else ():
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except FileNotFoundError:
                pass

    def _remove_folders(self, job_id: int) -> None:
        """What a job may have left on disk (a crash between two steps): its staged inputs,
        result folders and executor folder (its /out filesystem unmounted first)."""
        identity = self.rt.identity
        remove_staged(identity.staging_folder / str(job_id))
        for folder in identity.results_folder.glob(f"{job_id}*"):
            if folder.name.split(".", 1)[0] == str(job_id):
                shutil.rmtree(folder, ignore_errors=True)
        key = identity.job_key(job_id)
        if self.rt.executor.jobdir(key).root.exists():
            self.rt.executor.remove(key, purge=True)


def _dag_blocks(store: ContentStore, root: Cid) -> set[bytes]:
    """The multihashes of the DAG's blocks the store holds (raw leaves not read; a missing or
    damaged block ends the walk: what it links is not there either)."""
    found: set[bytes] = set()
    try:
        for cid, _ in ipld.walk(store.get_block, root, read_raw=False):
            found.add(cid.multihash)
    except UserError:
        pass
    return found
