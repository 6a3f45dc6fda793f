"""Deadlines are inclusive, to the second, for every deadline-bound action.

"Before the deadline" means ``block.timestamp <= deadline`` and "after" means
``block.timestamp > deadline``; each case is run with the block at deadline - 1, deadline and
deadline + 1 second, from the same chain snapshot.
"""

from dataclasses import dataclass

import ape
import pytest
from ape import chain
from contract_helpers import (
    REVIEW_WINDOW,
    WORK_TIMEOUT,
    ZERO_ADDRESS,
    digest,
    next_timestamp,
    set_next_timestamp,
)

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

OFFSETS = (-1, 0, 1)


@dataclass(frozen=True)
class Case:
    """``function`` on a job in ``state``, allowed only on one side of ``deadline``."""

    name: str
    state: JobState
    function: str
    role: str
    # "before": allowed while now <= deadline; "after": allowed once now > deadline.
    allowed: str
    reason: Revert
    # Which deadline: the job's current one, or its claim deadline.
    deadline: str = "current"
    args: tuple = ()

    def allowed_at(self, offset: int) -> bool:
        return offset <= 0 if self.allowed == "before" else offset > 0


CASES = [
    Case("claim", JobState.OPEN, "claim", "provider2", "before", Revert.CLAIM_DEADLINE_PASSED),
    Case(
        "reclaim open",
        JobState.OPEN,
        "reclaim",
        "stranger",
        "after",
        Revert.CLAIM_DEADLINE_NOT_PASSED,
    ),
    Case("abandon", JobState.CLAIMED, "abandon", "provider", "before", Revert.WORK_DEADLINE_PASSED),
    Case(
        "submit_result",
        JobState.CLAIMED,
        "submit_result",
        "provider",
        "before",
        Revert.WORK_DEADLINE_PASSED,
        args=(digest("result"),),
    ),
    Case(
        "reclaim claimed",
        JobState.CLAIMED,
        "reclaim",
        "stranger",
        "after",
        Revert.WORK_DEADLINE_NOT_PASSED,
    ),
    Case(
        "dispute", JobState.SUBMITTED, "dispute", "requester", "before", Revert.REVIEW_WINDOW_CLOSED
    ),
    Case(
        "finalize", JobState.SUBMITTED, "finalize", "stranger", "after", Revert.REVIEW_WINDOW_OPEN
    ),
    Case(
        "resolve",
        JobState.DISPUTED,
        "resolve",
        "arbiter",
        "before",
        Revert.ARBITER_DEADLINE_PASSED,
        args=(5_000,),
    ),
    Case(
        "close_dispute",
        JobState.DISPUTED,
        "close_dispute",
        "stranger",
        "after",
        Revert.ARBITER_DEADLINE_NOT_PASSED,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_deadline_boundary(case, market, jobs, request):
    job_id = jobs.in_state(case.state)
    deadline = jobs.deadline(job_id)
    sender = request.getfixturevalue(case.role)
    call = getattr(market, case.function)

    for offset in OFFSETS:
        snapshot = chain.snapshot()
        set_next_timestamp(deadline + offset)
        if case.allowed_at(offset):
            receipt = call(job_id, *case.args, sender=sender)
            assert chain.blocks[receipt.block_number].timestamp == deadline + offset
            assert jobs.state(job_id) is not case.state, f"{case.name} at {offset:+d}"
        else:
            with ape.reverts(case.reason):
                call(job_id, *case.args, sender=sender)
        chain.restore(snapshot)


def test_abandon_reopens_up_to_the_claim_deadline_inclusive(market, jobs, provider):
    """After an abandon the job reopens while now <= claim deadline, else it expires."""
    job_id = jobs.claimed(claim_window=100)
    claim_deadline = market.get_job(job_id).claim_deadline
    expected = {-1: JobState.OPEN, 0: JobState.OPEN, 1: JobState.EXPIRED}

    for offset, state in expected.items():
        snapshot = chain.snapshot()
        set_next_timestamp(claim_deadline + offset)
        market.abandon(job_id, sender=provider)
        assert jobs.state(job_id) is state, f"abandon at claim deadline {offset:+d}"
        chain.restore(snapshot)


def test_post_job_needs_a_claim_deadline_in_the_future(market, requester):
    now = next_timestamp() + 10
    for offset, accepted in ((-1, False), (0, False), (1, True)):
        snapshot = chain.snapshot()
        set_next_timestamp(now)
        args = (digest("spec"), ZERO_ADDRESS, now + offset, WORK_TIMEOUT, REVIEW_WINDOW)
        if accepted:
            market.post_job(*args, sender=requester, value=10**16)
            assert market.get_job(0).claim_deadline == now + 1
        else:
            with ape.reverts(Revert.CLAIM_DEADLINE_NOT_IN_FUTURE):
                market.post_job(*args, sender=requester, value=10**16)
        chain.restore(snapshot)


def test_the_work_deadline_counts_from_the_claim_not_from_the_claim_deadline(
    market, jobs, provider
):
    """The spec: work deadline = claim time + work timeout, so a job claimed late in its claim
    window still gets its full work timeout. Claimed well before the claim deadline (not at
    it, where both readings agree), ``now + timeout`` and ``claim_deadline + timeout`` differ."""
    job_id = jobs.post()
    claim_deadline = market.get_job(job_id).claim_deadline
    claimed_at = claim_deadline - 1_000
    set_next_timestamp(claimed_at)
    market.claim(job_id, sender=provider)
    deadline = market.get_job(job_id).deadline
    assert deadline == claimed_at + WORK_TIMEOUT
    assert deadline != claim_deadline + WORK_TIMEOUT


def test_a_deadline_past_the_year_2106_is_refused_not_truncated(market, requester, provider):
    """Deadlines are stored in 32 bits; one that would not fit reverts instead of wrapping."""
    late = 2**32 - 100
    snapshot = chain.snapshot()
    set_next_timestamp(late)
    market.post_job(
        digest("spec"),
        ZERO_ADDRESS,
        2**32 - 1,
        1_000,
        REVIEW_WINDOW,
        sender=requester,
        value=10**16,
    )
    with ape.reverts(Revert.TIMESTAMP_OVERFLOW):
        market.claim(0, sender=provider)
    chain.restore(snapshot)

    # The chain's clock is back in the present for the tests that follow.
    chain.mine()
    assert chain.blocks.head.timestamp < late - 10**8
