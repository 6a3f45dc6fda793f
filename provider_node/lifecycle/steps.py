"""The steps a job goes through on this node, the only moves between them, and why a job waits.

A job advances ``seen → claiming → claimed → running → pinned → submitted → settled``; it can
leave the path as ``declined`` (we never claimed it), ``lost`` (another provider's claim won),
``abandoning → abandoned`` (we give it back before its deadline) or ``failed`` (it ended
without a payout for us, e.g. reclaimed after the work deadline). Each step is written to the
journal before the node acts on it, so a restarted node resumes every job where it stood.

A job at ``seen`` that the node cannot take *now* carries a :class:`Waiting` value (its own
journal column, apart from the human ``reason``), so freed room wakes exactly the jobs that
waited for it. :data:`TRANSITIONS` is the whole state machine: ``lifecycle.advance`` refuses
any move it does not list.
"""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    SEEN = "seen"
    CLAIMING = "claiming"  # decided: our claim is being signed, sent or mined
    CLAIMED = "claimed"
    RUNNING = "running"
    PINNED = "pinned"
    SUBMITTED = "submitted"
    SETTLED = "settled"
    DECLINED = "declined"
    LOST = "lost"
    ABANDONING = "abandoning"  # decided to give the claim back: no way back to running
    ABANDONED = "abandoned"
    FAILED = "failed"


class Waiting(StrEnum):
    """Why a job at ``seen`` waits for another look (empty: it does not)."""

    NOT = ""
    CAPACITY = "capacity"  # no free slot, CPU or memory: woken when a job ends
    STAKE = "stake"  # free stake short of the collateral: woken when stake is freed or added
    TROUBLE = "trouble"  # the store or the RPC failed while deciding: retried after a pause
    RIVAL_CLAIM = "rival-claim"  # another provider's claim is pending: its event decides


_S = Step
# Every move a job's step may make, and only those. A reorg can replace a job's post (same id,
# other spec or requester): the job then goes back to ``seen`` from wherever it stood and is
# decided from scratch, which is why every step lists SEEN.
TRANSITIONS: dict[Step, frozenset[Step]] = {
    _S.SEEN: frozenset({_S.CLAIMING, _S.DECLINED, _S.LOST}),
    _S.CLAIMING: frozenset({_S.CLAIMED, _S.SEEN, _S.DECLINED, _S.LOST}),
    _S.CLAIMED: frozenset({_S.RUNNING, _S.ABANDONING, _S.ABANDONED, _S.FAILED, _S.LOST, _S.SEEN}),
    _S.RUNNING: frozenset({_S.PINNED, _S.ABANDONING, _S.ABANDONED, _S.FAILED, _S.LOST, _S.SEEN}),
    _S.PINNED: frozenset({_S.SUBMITTED, _S.ABANDONED, _S.FAILED, _S.LOST, _S.SEEN}),
    # A reorg that removes our submission leaves the job claimed by us on chain: resubmit.
    _S.SUBMITTED: frozenset({_S.SETTLED, _S.FAILED, _S.PINNED, _S.SEEN}),
    # A reorg that removes the accept or finalize puts the job back to submitted.
    _S.SETTLED: frozenset({_S.SUBMITTED, _S.SEEN}),
    _S.DECLINED: frozenset({_S.SEEN, _S.LOST}),  # reopened, reposted; a race lost meanwhile
    _S.LOST: frozenset({_S.SEEN}),  # reopened by the winner, or the winning claim reorged out
    _S.ABANDONING: frozenset({_S.ABANDONED, _S.FAILED, _S.LOST, _S.SEEN}),
    _S.ABANDONED: frozenset({_S.SEEN}),
    _S.FAILED: frozenset({_S.SEEN}),
}


def allowed(current: Step, target: Step) -> bool:
    """Whether the table lets a job move from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


# Steps at which the node holds (or is acquiring) a claim: a pipeline supervises them.
HOLDING_STEPS = frozenset({Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.ABANDONING})
IN_FLIGHT_STEPS = frozenset(
    {Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.SUBMITTED, Step.ABANDONING}
)
# Steps from which a job that another provider gave back (reopened) is worth another look.
REOPENABLE_STEPS = frozenset({Step.DECLINED, Step.LOST})
# Steps of a job whose inputs were (or are being) read from the store but are not staged yet.
UNSTAGED_STEPS = frozenset({Step.SEEN, Step.CLAIMING, Step.CLAIMED})
# Steps that hold our container or a claim that a rival's claim (after a reorg) takes away.
OURS_BEFORE_SUBMIT = frozenset({Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.ABANDONING})

# The reason journaled when our own finalize settles a job: the settler (from its receipt)
# and the event follower (from JobAccepted, which can arrive first) must agree on it.
FINALIZED_BY_US = "finalized after the review window"
# Likewise for a dispute closed (by anyone, us included) once the arbiter's deadline passed.
DISPUTE_CLOSED_NEUTRAL = "dispute closed with the neutral outcome after the arbiter's deadline"
