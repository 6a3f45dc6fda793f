"""What the market's events mean for this node's jobs (events, not money).

The follower hands every JobMarket event here, in chain order, inside the journal
transaction that moves the cursor. Each handler is idempotent (an event read twice after a
crash or a reorg changes nothing the second time), touches only the journal, and moves a job
only through ``lifecycle.advance``: decisions and transactions belong to the pipeline and the
settler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address

from jobmarket.chain.client import ZERO_ADDRESS, MarketEvent
from jobmarket.chain.units import format_price
from provider_node.context.logs import emit
from provider_node.journal.store import JobRecord, Journal, PostedJob
from provider_node.lifecycle.advance import advance, log_seen
from provider_node.lifecycle.steps import (
    DISPUTE_CLOSED_NEUTRAL,
    FINALIZED_BY_US,
    OURS_BEFORE_SUBMIT,
    REOPENABLE_STEPS,
    Step,
    Waiting,
)

log = logging.getLogger("provider_node")

# Delivered by us (PINNED too: its submit may be mined before the pipeline journals it).
_OURS_DELIVERED = (Step.PINNED, Step.SUBMITTED)


class Ledger:
    """Applies market events to the journal, from the point of view of account ``me``."""

    def __init__(
        self, journal: Journal, me: str, money: Callable[[int], str] = format_price
    ) -> None:
        self.journal = journal
        #: Shows an amount in the market's currency (ETH, or its token: ``12.5 tUSD``).
        self.money = money
        self.me = to_checksum_address(me)
        self.new_jobs = 0
        # Jobs whose post a reorg replaced since the node last looked: their pipelines stop.
        self.reposted: set[int] = set()
        self._handlers: dict[str, Callable[[MarketEvent, JobRecord | None], None]] = {
            "JobClaimed": self._claimed,
            "JobAbandoned": self._abandoned,
            "ResultSubmitted": self._submitted,
            "JobAccepted": self._accepted,
            "JobDisputed": self._disputed,
            "JobResolved": self._resolved,
            "JobCanceled": self._canceled,
            "JobExpired": self._expired,
        }

    def apply(self, events: list[MarketEvent]) -> None:
        for event in events:
            if event.name == "JobPosted":
                self._posted(event)
            elif event.name == "ProviderRegistered":
                if _address(event.args["account"]) == self.me:
                    self.journal.set_meta("capabilities", bytes(event.args["capabilities"]).hex())
                    self.journal.clear_deferrals([Waiting.STAKE])
            elif event.name == "Unpaused" or (
                event.name == "StakeDeposited" and _address(event.args["account"]) == self.me
            ):
                # Room to claim again: jobs that waited for stake (or for the market) wake now.
                self.journal.clear_deferrals([Waiting.STAKE])
            elif (handler := self._handlers.get(event.name)) is not None:
                job_id = event.job_id
                job = self.journal.job(job_id) if job_id is not None else None
                if job is not None:
                    self.journal.update_job(
                        job.job_id, event_block=event.block_number, event_hash=event.block_hash
                    )
                handler(event, job)

    # -- handlers ----------------------------------------------------------------------------

    def _posted(self, event: MarketEvent) -> None:
        args = event.args
        posted = PostedJob(
            job_id=int(args["job_id"]),
            requester=_address(args["requester"]),
            designated=_optional(args["designated"]),
            spec_digest=bytes(args["spec_digest"]),
            price=int(args["price"]),
            collateral=int(args["collateral"]),
            claim_deadline=int(args["claim_deadline"]),
            work_timeout=int(args["work_timeout"]),
            review_window=int(args["review_window"]),
            posted_block=event.block_number,
        )
        outcome = self.journal.record_posted(posted)
        if outcome == "same":
            return
        self.journal.update_job(
            posted.job_id, event_block=event.block_number, event_hash=event.block_hash
        )
        self.new_jobs += 1
        if outcome == "new":
            log_seen(
                self.journal,
                posted.job_id,
                price=self.money(posted.price),
                block=event.block_number,
            )
        else:
            self.reposted.add(posted.job_id)
            reposted = "a reorg replaced the job's post; deciding again"
            if not advance(self.journal, posted.job_id, Step.SEEN, reason=reposted, not_before=0):
                self.journal.update_job(posted.job_id, reason=reposted, waiting="", not_before=0)
        refusal = ""
        if posted.designated is not None and posted.designated != self.me:
            refusal = f"designated to {posted.designated}"
        elif posted.requester == self.me:
            refusal = "posted by this node's own account"
        if refusal:
            advance(
                self.journal, posted.job_id, Step.DECLINED, reason=refusal, only_from=[Step.SEEN]
            )

    def _claimed(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None:
            return
        claimer = _address(event.args["claimer"])
        if claimer == self.me:
            self.journal.update_job(
                job.job_id, open=0, work_deadline=int(event.args["work_deadline"])
            )
            return
        self.journal.update_job(job.job_id, open=0)
        if job.step == Step.CLAIMING or (
            job.step == Step.SEEN and job.waiting == Waiting.RIVAL_CLAIM
        ):
            # We raced for it (our claim in flight, or refused against the pending block).
            advance(self.journal, job.job_id, Step.LOST, reason=f"claimed first by {claimer}")
        elif job.step == Step.SEEN:
            advance(self.journal, job.job_id, Step.DECLINED, reason=f"claimed first by {claimer}")

    def _abandoned(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None:
            return
        claimer = _address(event.args["claimer"])
        if claimer == self.me:  # ours: the pipeline journals it too, with the same reason
            advance(
                self.journal,
                job.job_id,
                Step.ABANDONED,
                only_from=OURS_BEFORE_SUBMIT,
                reason=job.reason,
                level=logging.WARNING,
            )
        if not event.args["reopened"]:
            return
        self.journal.update_job(job.job_id, open=1)
        if claimer != self.me and job.step in REOPENABLE_STEPS:
            advance(
                self.journal, job.job_id, Step.SEEN, reason=f"reopened by {claimer}", not_before=0
            )

    def _submitted(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is not None and _address(event.args["claimer"]) == self.me:
            self.journal.update_job(job.job_id, review_deadline=int(event.args["review_deadline"]))

    def _accepted(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None or _address(event.args["claimer"]) != self.me or job.step == Step.SETTLED:
            return
        by = _address(event.args["by"])
        if by == job.requester:
            how = "accepted by the requester"
        elif by == self.me:  # our own finalize; its event may arrive before the settler's receipt
            how = FINALIZED_BY_US
        else:
            how = f"finalized by {by}"
        payout = int(event.args["payout"])
        advance(
            self.journal,
            job.job_id,
            Step.SETTLED,
            reason=how,
            payout=payout,
            log_fields={"payout": self.money(payout)},
        )

    def _disputed(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None or job.step not in _OURS_DELIVERED or job.disputed:
            return
        deadline = int(event.args["arbiter_deadline"])
        self.journal.update_job(job.job_id, disputed=True, arbiter_deadline=deadline)
        _note(job.job_id, "disputed", arbiter_deadline=deadline)

    def _resolved(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None or job.step not in _OURS_DELIVERED:
            return
        share = int(event.args["provider_bps"]) / 100
        payout = int(event.args["to_provider"])
        if not event.args["by_arbiter"]:  # close_dispute; ours may reach us before its receipt
            reason = DISPUTE_CLOSED_NEUTRAL
        else:
            reason = f"dispute resolved: {share:g}% of the price to us"
        if int(event.args["slashed"]):
            reason += ", collateral slashed"
        advance(
            self.journal,
            job.job_id,
            Step.SETTLED,
            reason=reason,
            payout=payout,
            log_fields={"payout": self.money(payout)},
        )

    def _canceled(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None:
            return
        self.journal.update_job(job.job_id, open=0)
        if job.step == Step.SEEN:
            advance(self.journal, job.job_id, Step.DECLINED, reason="canceled by the requester")

    def _expired(self, event: MarketEvent, job: JobRecord | None) -> None:
        if job is None:
            return
        self.journal.update_job(job.job_id, open=0)
        if job.step == Step.SEEN:
            advance(self.journal, job.job_id, Step.DECLINED, reason="expired unclaimed")
        elif job.step in OURS_BEFORE_SUBMIT:
            slashed = int(event.args["slashed"])
            advance(
                self.journal,
                job.job_id,
                Step.FAILED,
                level=logging.WARNING,
                reason=f"reclaimed after the work deadline; {self.money(slashed)} "
                "of collateral slashed",
            )


def _address(value: Any) -> str:
    return to_checksum_address(value)


def _optional(value: Any) -> str | None:
    address = to_checksum_address(value)
    return None if address == to_checksum_address(ZERO_ADDRESS) else address


def _note(job_id: int, event: str, **fields: Any) -> None:
    emit(log, event, job=job_id, **fields)
