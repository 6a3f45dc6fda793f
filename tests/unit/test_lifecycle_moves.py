"""The transition table and its one writer: every legal move works, every other is refused."""

from __future__ import annotations

import sqlite3

import pytest
from unit_support import ME, RIVAL, posted

from jobmarket.chain.client import MarketEvent
from provider_node.chain.events import Ledger
from provider_node.journal.store import MAX_STEPS_KEPT, Journal
from provider_node.lifecycle.advance import advance, defer
from provider_node.lifecycle.steps import TRANSITIONS, Step, Waiting, allowed

HAPPY_PATH = [Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.PINNED, Step.SUBMITTED, Step.SETTLED]


def _walk_to(journal: Journal, job_id: int, path: list[Step]) -> None:
    for step in path:
        assert advance(journal, job_id, step), f"{step} refused"


def _logged(records: list, event: str) -> list[dict]:
    """The fields of each structured log line ``event`` (see provider_node.context.logs)."""
    return [r.fields for r in records if r.getMessage() == event]


def _event(name: str, block: int = 9, **args: object) -> MarketEvent:
    return MarketEvent(name, dict(args), block, "0x" + f"{block:064x}", "0x" + "ab" * 32, 0)


def test_every_step_has_a_row_and_every_target_is_a_step():
    assert set(TRANSITIONS) == set(Step)
    for targets in TRANSITIONS.values():
        assert targets <= set(Step)


def test_the_happy_path_is_allowed_and_nothing_leaves_a_final_step_but_a_repost():
    assert all(allowed(a, b) for a, b in zip([Step.SEEN, *HAPPY_PATH], HAPPY_PATH, strict=False))
    for final in (Step.ABANDONED, Step.FAILED):
        assert TRANSITIONS[final] == {Step.SEEN}
    assert not allowed(Step.SETTLED, Step.RUNNING)
    assert not allowed(Step.SEEN, Step.RUNNING)  # never run without a claim
    assert not allowed(Step.ABANDONING, Step.RUNNING)  # no way back from abandoning


def test_advance_walks_the_happy_path_and_logs_each_step_once_committed(journal, node_log):
    journal.record_posted(posted())
    _walk_to(journal, 1, HAPPY_PATH)
    assert journal.job(1).step == Step.SETTLED
    logged = _logged(node_log.records, "step")
    assert [fields["step"] for fields in logged] == [str(s) for s in HAPPY_PATH]


def test_a_move_the_table_lacks_is_refused_with_one_error_line(journal, node_log):
    journal.record_posted(posted())
    assert not advance(journal, 1, Step.RUNNING)
    assert journal.job(1).step == Step.SEEN
    errors = [r for r in node_log.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["illegal-move"]
    assert (errors[0].fields["step"], errors[0].fields["to"]) == ("seen", "running")


def test_only_from_is_a_quiet_race_not_an_error(journal, node_log):
    journal.record_posted(posted())
    _walk_to(journal, 1, [Step.DECLINED])
    assert not advance(journal, 1, Step.CLAIMED, only_from=[Step.CLAIMING])
    assert journal.job(1).step == Step.DECLINED
    assert not [r for r in node_log.records if r.levelname == "ERROR"]


def test_nothing_else_can_write_a_step(journal):
    journal.record_posted(posted())
    with pytest.raises(ValueError, match=r"lifecycle\.advance"):
        journal.update_job(1, step=Step.CLAIMED)


def test_a_step_rolled_back_is_never_logged(journal, node_log):
    """With the disk full the commit fails: the log must not state a step the journal lacks."""
    journal.record_posted(posted())
    with pytest.raises(RuntimeError), journal.transaction():
        advance(journal, 1, Step.CLAIMING)
        raise RuntimeError("disk full")  # the outer transaction rolls back
    assert journal.job(1).step == Step.SEEN
    assert _logged(node_log.records, "step") == []


def test_a_failed_commit_logs_nothing_and_leaves_no_transaction_open(journal, node_log):
    journal.record_posted(posted())
    journal._db.execute("PRAGMA query_only = 1")  # every write now fails, as on a full disk
    with pytest.raises(sqlite3.OperationalError):
        advance(journal, 1, Step.CLAIMING)
    journal._db.execute("PRAGMA query_only = 0")
    assert journal.job(1).step == Step.SEEN
    assert _logged(node_log.records, "step") == []
    assert advance(journal, 1, Step.CLAIMING)  # the journal works again


def test_a_stake_deferral_wakes_on_re_staking(journal):
    """`claim refused for now: stake too low` and `stake too low: …` both wait for stake."""
    for job_id, reason in [(1, "claim refused for now: stake too low"), (2, "stake too low: x")]:
        journal.record_posted(posted(job_id))
        assert defer(journal, job_id, Waiting.STAKE, reason, 30)
    journal.record_posted(posted(3))
    defer(journal, 3, Waiting.CAPACITY, "waiting for a free slot", 30)
    ledger = Ledger(journal, ME)
    with journal.transaction():
        ledger.apply([_event("StakeDeposited", account=ME, amount=10**18, stake=2 * 10**18)])
    assert [journal.job(i).not_before for i in (1, 2)] == [0, 0]
    assert journal.job(3).not_before > 0  # waits for a slot, not for stake


def test_another_accounts_stake_wakes_nothing(journal):
    journal.record_posted(posted(1))
    defer(journal, 1, Waiting.STAKE, "stake too low", 30)
    with journal.transaction():
        Ledger(journal, ME).apply([_event("StakeDeposited", account=RIVAL, amount=1, stake=1)])
    assert journal.job(1).not_before > 0


def test_a_deferral_is_one_log_worthy_change_per_new_reason(journal):
    journal.record_posted(posted())
    assert defer(journal, 1, Waiting.CAPACITY, "waiting for a free slot", 5)
    assert not defer(journal, 1, Waiting.CAPACITY, "waiting for a free slot", 5)
    assert defer(journal, 1, Waiting.STAKE, "stake too low", 5)
    assert journal.job(1).waiting == Waiting.STAKE


def test_a_replaced_post_sends_the_job_back_to_seen_from_wherever_it_stood(journal):
    """A reorg reuses the id for another spec: the journal takes the new terms, the job is
    decided again, and the ledger reports it so its pipeline stops."""
    journal.record_posted(posted(spec=b"\x11" * 32))
    _walk_to(journal, 1, [Step.CLAIMING, Step.CLAIMED, Step.RUNNING])
    ledger = Ledger(journal, ME)
    new = posted(spec=b"\x22" * 32, requester=RIVAL)
    args = {
        "job_id": 1,
        "requester": new.requester,
        "designated": "0x" + "00" * 20,
        "spec_digest": new.spec_digest,
        "price": new.price,
        "collateral": new.collateral,
        "claim_deadline": new.claim_deadline,
        "work_timeout": new.work_timeout,
        "review_window": new.review_window,
    }
    with journal.transaction():
        ledger.apply([_event("JobPosted", **args)])
    job = journal.job(1)
    assert (job.step, job.spec_digest, job.requester) == (Step.SEEN, b"\x22" * 32, RIVAL)
    assert ledger.reposted == {1}
    with journal.transaction():  # the same event read again changes nothing
        ledger.apply([_event("JobPosted", **args)])
    assert journal.job(1).step == Step.SEEN


@pytest.mark.parametrize(
    ("by", "reason"),
    [
        (ME, "finalized after the review window"),  # our own finalize, its event first
        (posted().requester, "accepted by the requester"),
        (RIVAL, f"finalized by {RIVAL}"),
    ],
)
def test_a_settlement_event_says_who_settled_the_job(journal, by, reason):
    """The JobAccepted of our own finalize can reach the ledger before the settler reads its
    receipt; either way the journal says the same thing."""
    journal.record_posted(posted())
    _walk_to(journal, 1, HAPPY_PATH[:-1])
    with journal.transaction():
        Ledger(journal, ME).apply(
            [_event("JobAccepted", job_id=1, claimer=ME, by=by, payout=10**16)]
        )
    assert journal.job(1).step == Step.SETTLED
    assert journal.job(1).reason == reason


@pytest.mark.parametrize(
    ("by_arbiter", "bps", "reason"),
    [
        (False, 5000, "dispute closed with the neutral outcome after the arbiter's deadline"),
        (True, 7000, "dispute resolved: 70% of the price to us"),
    ],
)
def test_a_resolution_event_says_whether_the_arbiter_ruled(journal, by_arbiter, bps, reason):
    """Our own close_dispute's JobResolved can reach the ledger before the settler reads its
    receipt; the journal then says the same as the settler would."""
    journal.record_posted(posted())
    _walk_to(journal, 1, HAPPY_PATH[:-1])
    event = _event(
        "JobResolved",
        job_id=1,
        provider_bps=bps,
        to_provider=10**15,
        to_requester=10**15,
        slashed=0,
        by_arbiter=by_arbiter,
    )
    with journal.transaction():
        Ledger(journal, ME).apply([event])
    assert journal.job(1).step == Step.SETTLED
    assert journal.job(1).reason == reason


def test_the_journal_keeps_when_a_job_reached_each_step_and_bounds_a_job_that_keeps_returning(
    journal,
):
    journal.record_posted(posted())
    _walk_to(journal, 1, HAPPY_PATH)
    steps = journal.steps(1)
    assert [step for step, _ in steps] == [Step.SEEN, *HAPPY_PATH]
    assert [at for _, at in steps] == sorted(at for _, at in steps)

    journal.record_posted(posted(2))
    for _ in range(40):  # declined, then reopened by a rival's abandon, again and again
        _walk_to(journal, 2, [Step.DECLINED, Step.SEEN])
    assert len(journal.steps(2)) == MAX_STEPS_KEPT
    assert journal.steps(2)[-1][0] == Step.SEEN

    journal.compact(1, result_cid=None)
    assert journal.steps(1) == []
