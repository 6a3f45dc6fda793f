"""The steps a job goes through on this node, as journaled.

A job advances ``seen → claimed → running → pinned → submitted → settled``; it can leave the
path as ``declined`` (we never claimed it), ``lost`` (another provider's claim won),
``abandoned`` (we gave it back before its deadline) or ``failed`` (it ended without a payout
for us, e.g. reclaimed after the work deadline). Each step is written to the journal before
the node acts on it, so a restarted node resumes every job where it stood.
"""

from enum import StrEnum


class Step(StrEnum):
    SEEN = "seen"
    CLAIMED = "claimed"
    RUNNING = "running"
    PINNED = "pinned"
    SUBMITTED = "submitted"
    SETTLED = "settled"
    DECLINED = "declined"
    LOST = "lost"
    ABANDONED = "abandoned"
    FAILED = "failed"


IN_FLIGHT_STEPS = frozenset({Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.SUBMITTED})
# Steps from which a job that another provider gave back (reopened) is worth another look.
REOPENABLE_STEPS = frozenset({Step.DECLINED, Step.LOST})

# The reason a job waits at ``seen`` after our claim met a rival claim still in the mempool:
# when the rival's JobClaimed arrives, the job counts as ``lost`` (we did race for it).
RIVAL_CLAIM_PENDING = "another provider's claim is pending"

# Reasons a job waits at ``seen`` until capacity frees up (a job ends, stake is released).
WAITING_FOR_SLOT = "waiting for a free slot"
WAITING_FOR_STAKE = "stake too low"

# The reason recorded on a claimed job the node has decided to give back: a restart (or a retry
# after a failed transaction) goes on abandoning instead of starting the job.
ABANDONING = "abandoning: "
