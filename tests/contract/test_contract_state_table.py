"""Every job function called in every state: only the legal moves succeed, nothing settles twice.

Each state is tested twice: "early", while the state's deadline is in the future, and "late",
after every deadline of the job has passed. Each function is called by the account that would
be allowed to call it, so the only thing deciding the outcome is the state and the clock.
"""

from collections.abc import Callable
from typing import Any

import ape
import pytest
from ape import chain
from contract_helpers import digest, set_next_timestamp

from jobmarket.chain import TERMINAL_STATES
from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

S = JobState
R = Revert

# function name -> (role of the sender, extra arguments after the job id)
CALLS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "cancel": ("requester", ()),
    "claim": ("provider2", ()),
    "abandon": ("provider", ()),
    "submit_result": ("provider", (digest("result"),)),
    "accept": ("requester", ()),
    "finalize": ("stranger", ()),
    "dispute": ("requester", ()),
    "resolve": ("arbiter", (5_000,)),
    "close_dispute": ("stranger", ()),
    "reclaim": ("stranger", ()),
}

# What a terminal job answers to every call.
TERMINAL_ROW = {
    "cancel": R.JOB_NOT_OPEN,
    "claim": R.JOB_NOT_OPEN,
    "abandon": R.JOB_NOT_CLAIMED,
    "submit_result": R.JOB_NOT_CLAIMED,
    "accept": R.JOB_NOT_SUBMITTED,
    "finalize": R.JOB_NOT_SUBMITTED,
    "dispute": R.JOB_NOT_SUBMITTED,
    "resolve": R.JOB_NOT_DISPUTED,
    "close_dispute": R.JOB_NOT_DISPUTED,
    "reclaim": R.JOB_NOT_RECLAIMABLE,
}

# (state, timing) -> function -> the state it leads to, or the reason it reverts with.
EXPECTED: dict[tuple[JobState, str], dict[str, JobState | Revert]] = {
    (S.OPEN, "early"): {
        **TERMINAL_ROW,
        "cancel": S.CANCELED,
        "claim": S.CLAIMED,
        "reclaim": R.CLAIM_DEADLINE_NOT_PASSED,
    },
    (S.OPEN, "late"): {
        **TERMINAL_ROW,
        "cancel": S.CANCELED,
        "claim": R.CLAIM_DEADLINE_PASSED,
        "reclaim": S.EXPIRED,
    },
    (S.CLAIMED, "early"): {
        **TERMINAL_ROW,
        "abandon": S.OPEN,
        "submit_result": S.SUBMITTED,
        "reclaim": R.WORK_DEADLINE_NOT_PASSED,
    },
    (S.CLAIMED, "late"): {
        **TERMINAL_ROW,
        "abandon": R.WORK_DEADLINE_PASSED,
        "submit_result": R.WORK_DEADLINE_PASSED,
        "reclaim": S.EXPIRED,
    },
    (S.SUBMITTED, "early"): {
        **TERMINAL_ROW,
        "accept": S.ACCEPTED,
        "finalize": R.REVIEW_WINDOW_OPEN,
        "dispute": S.DISPUTED,
    },
    (S.SUBMITTED, "late"): {
        **TERMINAL_ROW,
        "accept": S.ACCEPTED,
        "finalize": S.ACCEPTED,
        "dispute": R.REVIEW_WINDOW_CLOSED,
    },
    (S.DISPUTED, "early"): {
        **TERMINAL_ROW,
        "resolve": S.RESOLVED,
        "close_dispute": R.ARBITER_DEADLINE_NOT_PASSED,
    },
    (S.DISPUTED, "late"): {
        **TERMINAL_ROW,
        "resolve": R.ARBITER_DEADLINE_PASSED,
        "close_dispute": S.RESOLVED,
    },
}
# A terminal job answers the same at any time.
for terminal in (S.ACCEPTED, S.RESOLVED, S.CANCELED, S.EXPIRED):
    EXPECTED[(terminal, "late")] = dict(TERMINAL_ROW)


@pytest.mark.parametrize(("state", "timing"), list(EXPECTED), ids=lambda v: str(v))
def test_every_function_in_every_state(state, timing, market, jobs, request):
    job_id = jobs.in_state(state)
    job = market.get_job(job_id)
    if timing == "late":
        set_next_timestamp(max(job.deadline, job.claim_deadline) + 1)
        chain.mine()
    roles: dict[str, Any] = {
        role: request.getfixturevalue(role)
        for role in ("requester", "provider", "provider2", "stranger", "arbiter")
    }

    for function, expected in EXPECTED[(state, timing)].items():
        role, extra = CALLS[function]
        call: Callable[..., Any] = getattr(market, function)
        if isinstance(expected, Revert):
            with ape.reverts(expected):
                call(job_id, *extra, sender=roles[role])
            assert jobs.state(job_id) is state, f"a failed {function} changed the state"
            continue

        snapshot = chain.snapshot()
        call(job_id, *extra, sender=roles[role])
        assert jobs.state(job_id) is expected, function
        if expected in TERMINAL_STATES:
            # The same call again must not pay out a second time (the terminal rows above
            # check every other call on a settled job).
            with ape.reverts(TERMINAL_ROW[function]):
                call(job_id, *extra, sender=roles[role])
        chain.restore(snapshot)


@pytest.mark.parametrize(
    ("state", "function", "role", "reason"),
    [
        (S.OPEN, "cancel", "stranger", R.NOT_REQUESTER),
        (S.OPEN, "cancel", "provider", R.NOT_REQUESTER),
        (S.OPEN, "claim", "stranger", R.NOT_REGISTERED),
        (S.OPEN, "claim", "requester", R.NOT_REGISTERED),
        (S.CLAIMED, "abandon", "provider2", R.NOT_CLAIMER),
        (S.CLAIMED, "abandon", "requester", R.NOT_CLAIMER),
        (S.CLAIMED, "submit_result", "provider2", R.NOT_CLAIMER),
        (S.CLAIMED, "submit_result", "requester", R.NOT_CLAIMER),
        (S.SUBMITTED, "accept", "provider", R.NOT_REQUESTER),
        (S.SUBMITTED, "accept", "stranger", R.NOT_REQUESTER),
        (S.SUBMITTED, "dispute", "provider", R.NOT_REQUESTER),
        (S.SUBMITTED, "dispute", "arbiter", R.NOT_REQUESTER),
        (S.DISPUTED, "resolve", "requester", R.NOT_ARBITER),
        (S.DISPUTED, "resolve", "provider", R.NOT_ARBITER),
        (S.DISPUTED, "resolve", "owner", R.NOT_ARBITER),
    ],
)
def test_only_the_right_account_can_move_a_job(
    state, function, role, reason, market, jobs, request
):
    job_id = jobs.in_state(state)
    _, extra = CALLS[function]
    with ape.reverts(reason):
        getattr(market, function)(job_id, *extra, sender=request.getfixturevalue(role))
    assert jobs.state(job_id) is state


@pytest.mark.parametrize("function", list(CALLS))
def test_every_job_function_rejects_an_unknown_job(function, market, jobs, request):
    jobs.post()
    role, extra = CALLS[function]
    with ape.reverts(R.UNKNOWN_JOB):
        getattr(market, function)(1, *extra, sender=request.getfixturevalue(role))
    with ape.reverts(R.UNKNOWN_JOB):
        market.get_job(1)
