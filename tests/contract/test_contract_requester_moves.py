"""The requester's table of next moves (``requester.moves``) agrees with the contract's own.

``test_contract_state_table.EXPECTED`` is checked against the deployed contract, function by
function, in every state, before and after the deadlines; here the requester's
:func:`~requester.moves.next_moves` must offer exactly the functions that succeed there. A
change to either table that the other does not follow fails this test.
"""

import pytest
from test_contract_state_table import EXPECTED

from jobmarket.chain.client import JobView
from jobmarket.chain.states import JobState
from requester.moves import FUNCTION_WORDS, next_moves

DEADLINE = 1_000_000
REQUESTER = "0x" + "11" * 20
PROVIDER = "0x" + "22" * 20


def _view(state: JobState) -> JobView:
    return JobView(
        job_id=0,
        requester=REQUESTER,
        price=10**16,
        state=state,
        provider=PROVIDER if state is not JobState.OPEN else None,
        designated=None,
        claim_deadline=DEADLINE,
        deadline=DEADLINE,
        work_timeout=600,
        review_window=3600,
        collateral=10**15,
        fee_bps=0,
        params_version=0,
    )


@pytest.mark.parametrize(("state", "timing"), list(EXPECTED), ids=lambda v: str(v))
def test_requester_moves_are_the_contracts_moves(state, timing):
    now = DEADLINE if timing == "early" else DEADLINE + 1  # deadlines are inclusive
    succeeding = {f for f, outcome in EXPECTED[(state, timing)].items() if outcome in JobState}
    offered = {move.function for move in next_moves(_view(state)) if move.open_at(now)}
    assert offered == succeeding


def test_every_contract_function_has_words():
    every = {function for row in EXPECTED.values() for function in row}
    assert every == set(FUNCTION_WORDS)
