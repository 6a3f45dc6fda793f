"""Getting paid: finalizing our submitted jobs once their review window has passed.

A requester who neither accepts nor disputes would otherwise leave the payout (and the
collateral) locked forever; ``finalize`` is open to anyone after the review window, and the
node calls it for its own jobs. A dispute the arbiter leaves past its deadline is closed with
the neutral outcome (``close_dispute``). With ``--withdraw-credits`` the account's credits
(payments the contract could not push) are withdrawn as they appear.

Runs in its own thread so a slow transaction never delays the event loop or a claim.
"""

from __future__ import annotations

import logging
import time

from jobmarket.chain.client import TransactionRefused
from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState
from provider_node.chain.signer import TxDropped
from provider_node.context.logs import emit
from provider_node.context.periodic import PeriodicTask
from provider_node.context.runtime import Runtime
from provider_node.lifecycle.advance import advance
from provider_node.lifecycle.steps import DISPUTE_CLOSED_NEUTRAL, FINALIZED_BY_US, Step

log = logging.getLogger("provider_node")

RETRY_S = 5.0


def finalize_due(review_deadline: int, chain_now: int, delay_s: int = 0) -> bool:
    """The contract accepts ``finalize`` strictly after the review deadline (plus our delay)."""
    return chain_now > review_deadline + delay_s


def close_dispute_due(arbiter_deadline: int | None, chain_now: int) -> bool:
    """``close_dispute`` is open to anyone strictly after the arbiter's deadline."""
    return arbiter_deadline is not None and chain_now > arbiter_deadline


class Settler(PeriodicTask):
    error_event = "settler-error"

    def __init__(self, runtime: Runtime, interval_s: float = 1.0) -> None:
        super().__init__(runtime, interval_s, name="settler")
        self._next_try: dict[tuple[str, int], float] = {}

    def tick(self) -> None:
        """One round: finalize, close disputes, withdraw credits (each when due)."""
        self.rt.txs.confirm_sent()
        now = self.rt.chain_now()
        for job in self.rt.journal.jobs([Step.SUBMITTED]):
            if self.rt.stop.is_set():
                return
            if job.fee_bps is None:  # for the pending earnings (price minus this fee)
                self.rt.journal.update_job(
                    job.job_id, fee_bps=self.rt.client.job(job.job_id).fee_bps
                )
            if not job.disputed and self.rt.settings.finalize:
                deadline = job.review_deadline
                if deadline is None:
                    deadline = self.rt.client.job(job.job_id).deadline
                    self.rt.journal.update_job(job.job_id, review_deadline=deadline)
                due = finalize_due(deadline, now, self.rt.settings.finalize_delay_s)
                if due and self._due("finalize", job.job_id):
                    self._settle(job.job_id, "finalize")
            elif (
                job.disputed
                and close_dispute_due(job.arbiter_deadline, now)
                and self._due("close_dispute", job.job_id)
            ):
                self._settle(job.job_id, "close_dispute")
        if self.rt.settings.withdraw_credits and self._due("withdraw", 0):
            self._withdraw_credits()

    def _due(self, action: str, job_id: int) -> bool:
        key = (action, job_id)
        if time.monotonic() < self._next_try.get(key, 0.0):
            return False
        self._next_try[key] = time.monotonic() + RETRY_S
        return True

    def _settle(self, job_id: int, function: str) -> None:
        try:
            mined = self.rt.txs.wait(self.rt.txs.ensure(function, job_id, job_id=job_id))
        except TransactionRefused as err:
            if err.reason in (Revert.REVIEW_WINDOW_OPEN, Revert.ARBITER_DEADLINE_NOT_PASSED):
                return  # the chain's clock is behind ours; try again shortly
            self._after_refusal(job_id, function, err)
            return
        except TxDropped:
            return
        record = mined.record
        accepted = mined.event("JobAccepted")
        resolved = mined.event("JobResolved")
        if accepted is not None:
            payout = int(accepted.args["payout"])
            reason = FINALIZED_BY_US
        elif resolved is not None:
            payout = int(resolved.args["to_provider"])
            reason = DISPUTE_CLOSED_NEUTRAL
        else:
            return
        job = self.rt.journal.job(job_id)
        if job is not None and job.step == Step.SUBMITTED:
            advance(
                self.rt.journal,
                job_id,
                Step.SETTLED,
                reason=reason,
                payout=payout,
                log_fields={
                    "tx": record.hash,
                    "gas": record.gas_used,
                    "payout": self.rt.client.currency.format(payout),
                },
            )

    def _after_refusal(self, job_id: int, function: str, err: TransactionRefused) -> None:
        """Someone else moved the job first (accepted, disputed): the events will tell the
        ledger; mark what the chain says already, so we stop trying."""
        current = self.rt.client.job(job_id)
        if current.state == JobState.DISPUTED:
            self.rt.journal.update_job(job_id, disputed=True, arbiter_deadline=current.deadline)
        elif current.state.is_terminal:
            emit(log, f"{function}-unneeded", job=job_id, state=current.state.name.lower())
        else:
            emit(log, f"{function}-refused", logging.WARNING, job=job_id, reason=err.reason)

    def _withdraw_credits(self) -> None:
        credits = self.rt.client.credits(self.rt.me)
        if credits == 0:
            return
        try:
            mined = self.rt.txs.transact("withdraw")
        except TransactionRefused as err:
            emit(log, "withdraw-refused", logging.WARNING, reason=err.reason)
            return
        emit(
            log,
            "withdrawn",
            amount=self.rt.client.currency.format(credits),
            tx=mined.record.hash,
            gas=mined.record.gas_used,
        )
