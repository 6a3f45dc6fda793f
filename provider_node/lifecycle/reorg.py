"""After a reorg: re-read the affected jobs from the chain and bring the journal in line.

The follower finds a reorg by comparing stored block hashes (anvil sends no ``removed`` logs)
and rewinds its cursor; the events of the new branch are then read again (a replaced post
comes back through ``JobPosted`` with the same id: the ledger moves the job back to ``seen``).
What an event cannot say — that an event has disappeared — is found here, by reading each
affected job from the chain as it now stands:

* a removed accept or finalize: ``settled`` goes back to ``submitted`` (the settler finalizes
  it when due);
* a rival's claim where ours was: the job is ``lost``, our container is stopped and its slot
  freed;
* a winning rival claim that is gone: a ``lost`` job is undecided (``seen``) again;
* each of our transactions the reorg removed is sent again only if it is still the right move
  for the job (:func:`tx_still_right`); the others are discarded, so a claim signed for a
  replaced post never takes the new one.

The decisions (:func:`reconciled_step`, :func:`tx_still_right`) are pure functions of the
journal's record and the chain's view, unit-tested without a chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from jobmarket.chain.client import JobView
from jobmarket.chain.states import JobState
from jobmarket.errors import NotFound
from provider_node.context.logs import emit
from provider_node.context.runtime import Runtime
from provider_node.journal.store import JobRecord, TxRecord, TxStatus
from provider_node.lifecycle.advance import advance
from provider_node.lifecycle.steps import HOLDING_STEPS, Step

log = logging.getLogger("provider_node")

_WAITING_FOR_VERDICT = (JobState.SUBMITTED, JobState.DISPUTED)


def reconciled_step(job: JobRecord, chain: JobView, me: str) -> tuple[Step, str] | None:
    """Where the journaled ``job`` must move now that the chain shows ``chain`` (None: stay)."""
    ours = chain.provider == me
    rival = chain.provider is not None and not ours and chain.state != JobState.OPEN
    if job.step in HOLDING_STEPS and rival:
        return Step.LOST, f"a reorg gave the job to {chain.provider}"
    if job.step == Step.SETTLED and ours and chain.state in _WAITING_FOR_VERDICT:
        return Step.SUBMITTED, "a reorg removed the accept or finalize"
    if job.step == Step.LOST and chain.state == JobState.OPEN:
        return Step.SEEN, "a reorg removed the winning claim"
    return None


def tx_still_right(record: TxRecord, chain: JobView | None, me: str) -> bool:
    """Whether our transaction, removed by a reorg, is still the move to make for its job."""
    if record.job_id is None or chain is None:
        return record.job_id is None  # account moves (stake, withdraw) stand on their own
    ours = chain.provider == me
    if record.function == "claim":
        return chain.state == JobState.OPEN
    if record.function in ("submit_result", "abandon"):
        return chain.state == JobState.CLAIMED and ours
    if record.function == "finalize":
        return chain.state == JobState.SUBMITTED and ours
    if record.function == "close_dispute":
        return chain.state == JobState.DISPUTED and ours
    return False


class ReorgReconciler:
    """Collects forks as the follower finds them; :meth:`reconcile` runs after the poll."""

    def __init__(self, rt: Runtime, reposted: set[int], stop_job: Callable[[int], None]) -> None:
        self.rt = rt
        self.reposted = reposted  # filled by the ledger: jobs whose post a reorg replaced
        self.stop_job = stop_job
        self._fork: int | None = None

    def note_fork(self, fork_block: int) -> None:
        self._fork = fork_block if self._fork is None else min(self._fork, fork_block)

    def reconcile(self) -> None:
        reposted, fork = set(self.reposted), self._fork
        if fork is None and not reposted:
            return
        self.reposted.clear()
        self._fork = None
        journal = self.rt.journal
        for job_id in reposted:
            self.stop_job(job_id)
            for record in journal.txs(job_id=job_id):
                if record.status not in (TxStatus.DROPPED, TxStatus.REJECTED):
                    self.rt.txs.discard(record, "signed for the job's previous post")
        affected = set(reposted)
        views: dict[int, JobView | None] = {}
        if fork is not None:
            orphaned = self.rt.txs.orphaned_by_reorg(fork)
            affected |= {r.job_id for r in orphaned if r.job_id is not None}
            affected |= {j.job_id for j in journal.jobs() if _touched_since(j, fork)}

            def still_right(record: TxRecord) -> bool:
                return tx_still_right(record, self._view(record.job_id, views), self.rt.me)

            self.rt.txs.recheck_after_reorg(fork, still_right)
        for job_id in sorted(affected - reposted):
            job, chain = journal.job(job_id), self._view(job_id, views)
            if job is None or chain is None:
                continue
            move = reconciled_step(job, chain, self.rt.me)
            if move is None:
                continue
            step, why = move
            columns = {}
            if step == Step.SUBMITTED:
                columns = {"payout": None, "review_deadline": chain.deadline}
                if chain.state == JobState.DISPUTED:
                    columns |= {"disputed": True, "arbiter_deadline": chain.deadline}
            moved = advance(journal, job_id, step, reason=why, level=logging.WARNING, **columns)
            if moved and step == Step.LOST:
                self.stop_job(job_id)
        emit(log, "reorg-reconciled", jobs=len(affected), reposted=len(reposted) or None)

    def _view(self, job_id: int | None, views: dict[int, JobView | None]) -> JobView | None:
        if job_id is None:
            return None
        if job_id not in views:
            try:
                views[job_id] = self.rt.client.job(job_id)
            except NotFound:
                views[job_id] = None
        return views[job_id]


def _touched_since(job: JobRecord, fork: int) -> bool:
    return job.posted_block >= fork or (job.event_block is not None and job.event_block >= fork)
