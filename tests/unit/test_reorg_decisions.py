"""Reconciling after a reorg: what the chain now shows decides each job and each of our
transactions the reorg removed."""

from __future__ import annotations

import pytest
from unit_support import ME, RIVAL, posted

from jobmarket.chain.client import JobView
from jobmarket.chain.states import JobState
from provider_node.journal.store import TxRecord
from provider_node.lifecycle.advance import advance
from provider_node.lifecycle.reorg import reconciled_step, tx_still_right
from provider_node.lifecycle.steps import Step, allowed


def _view(state: JobState, provider: str | None = None) -> JobView:
    return JobView(
        1, "0x" + "11" * 20, 10**16, state, provider, None, 0, 1000, 300, 60, 10**15, 0, 1
    )


def _tx(function: str, job_id: int | None = 1) -> TxRecord:
    return TxRecord(1, job_id, function, [1], 0, 0, b"", "0x01", "mined", 7, 1, None, 0.0, 0.0)


def _job(journal, step_path: list[Step]):
    journal.record_posted(posted())
    for step in step_path:
        assert advance(journal, 1, step)
    return journal.job(1)


@pytest.mark.parametrize("holding", [Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.ABANDONING])
def test_a_rival_claim_arriving_through_a_reorg_makes_a_held_job_lost(journal, holding):
    path = {
        Step.CLAIMED: [Step.CLAIMING, Step.CLAIMED],
        Step.RUNNING: [Step.CLAIMING, Step.CLAIMED, Step.RUNNING],
        Step.PINNED: [Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.PINNED],
        Step.ABANDONING: [Step.CLAIMING, Step.CLAIMED, Step.ABANDONING],
    }[holding]
    job = _job(journal, path)
    move = reconciled_step(job, _view(JobState.CLAIMED, RIVAL), ME)
    assert move is not None and move[0] == Step.LOST and allowed(job.step, move[0])


def test_our_own_claim_still_in_place_changes_nothing(journal):
    job = _job(journal, [Step.CLAIMING, Step.CLAIMED, Step.RUNNING])
    assert reconciled_step(job, _view(JobState.CLAIMED, ME), ME) is None


@pytest.mark.parametrize("state", [JobState.SUBMITTED, JobState.DISPUTED])
def test_a_removed_accept_puts_a_settled_job_back_to_submitted(journal, state):
    job = _job(
        journal,
        [Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.SUBMITTED, Step.SETTLED],
    )
    move = reconciled_step(job, _view(state, ME), ME)
    assert move is not None and move[0] == Step.SUBMITTED
    assert advance(journal, 1, move[0], reason=move[1])  # the table allows it


def test_a_settled_job_the_chain_agrees_with_stays_settled(journal):
    job = _job(
        journal,
        [Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.SUBMITTED, Step.SETTLED],
    )
    assert reconciled_step(job, _view(JobState.ACCEPTED, ME), ME) is None


def test_a_lost_job_whose_winning_claim_is_gone_is_undecided_again(journal):
    job = _job(journal, [Step.LOST])
    move = reconciled_step(job, _view(JobState.OPEN), ME)
    assert move is not None and move[0] == Step.SEEN


@pytest.mark.parametrize(
    ("function", "state", "provider", "resend"),
    [
        ("claim", JobState.OPEN, None, True),
        ("claim", JobState.CLAIMED, RIVAL, False),
        ("submit_result", JobState.CLAIMED, ME, True),
        ("submit_result", JobState.CLAIMED, RIVAL, False),
        ("submit_result", JobState.OPEN, None, False),
        ("abandon", JobState.CLAIMED, ME, True),
        ("finalize", JobState.SUBMITTED, ME, True),
        ("finalize", JobState.ACCEPTED, ME, False),
        ("close_dispute", JobState.DISPUTED, ME, True),
        ("close_dispute", JobState.SUBMITTED, ME, False),
    ],
)
def test_a_removed_transaction_is_resent_only_while_it_is_still_the_right_move(
    function, state, provider, resend
):
    assert tx_still_right(_tx(function), _view(state, provider), ME) is resend


def test_account_moves_are_resent_and_moves_for_a_vanished_job_are_not():
    assert tx_still_right(_tx("stake", job_id=None), None, ME)
    assert not tx_still_right(_tx("claim"), None, ME)
