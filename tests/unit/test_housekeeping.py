"""Housekeeping's decisions and the journal's compaction, on a real SQLite journal on disk:
which jobs may be compacted, and that a compacted journal reports the same money."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from unit_support import posted

from provider_node.journal.store import JobRecord, Journal, TxStatus, payout_after_fee
from provider_node.lifecycle.housekeeping import (
    REORG_DEPTH_BLOCKS,
    Horizon,
    compaction_blocker,
    interval_for,
)
from provider_node.lifecycle.steps import Step

DAY = 86400
GWEI = 10**9


def _job(journal: Journal, job_id: int, step: Step, **fields: object) -> JobRecord:
    journal.record_posted(posted(job_id, block=10))
    journal.write_step(job_id, step, **fields)
    job = journal.job(job_id)
    assert job is not None
    return job


def _tx(journal: Journal, job_id: int, function: str, nonce: int, *, mined: bool = True) -> None:
    record = journal.add_tx(
        job_id=job_id,
        function=function,
        args=[job_id],
        value=0,
        nonce=nonce,
        raw=os.urandom(115),  # a signed EIP-1559 claim/submit/finalize is 110-150 bytes
        tx_hash="0x" + os.urandom(32).hex(),
    )
    if mined:
        journal.update_tx(
            record.id, status=TxStatus.MINED, block_number=20, gas_used=40_000, gas_price=GWEI
        )


def _horizon(job: JobRecord, *, age_s: float, retention_s: float = 7 * DAY, **fields) -> Horizon:
    values = {
        "wall_now": job.updated_at + age_s,
        "chain_now": job.claim_deadline + 1,
        "retention_s": retention_s,
        "settled_block": 10_000,
    }
    return Horizon(**(values | fields))  # type: ignore[arg-type]


def test_only_jobs_that_ended_before_the_retention_and_beyond_any_reorg_are_compacted(journal):
    settled = _job(journal, 1, Step.SETTLED, payout=10**16, event_block=30)
    submitted = _job(journal, 2, Step.SUBMITTED, event_block=30)
    declined = _job(journal, 3, Step.DECLINED)
    old = 8 * DAY

    assert compaction_blocker(settled, [], _horizon(settled, age_s=old)) is None
    # The payout is still to come: never compacted, however old.
    assert "in progress" in compaction_blocker(submitted, [], _horizon(submitted, age_s=old))
    assert "retention" in compaction_blocker(settled, [], _horizon(settled, age_s=6 * DAY))
    assert compaction_blocker(settled, [], _horizon(settled, age_s=2, retention_s=1)) is None
    # Settled in a block a reorg could still replace (the accept could vanish).
    near_head = _horizon(settled, age_s=old, settled_block=29)
    assert "reorg" in compaction_blocker(settled, [], near_head)
    # Declined while its claim deadline is ahead: a rival could give it back (reopened).
    reopenable = _horizon(declined, age_s=old, chain_now=declined.claim_deadline)
    assert "claim deadline" in compaction_blocker(declined, [], reopenable)
    assert compaction_blocker(declined, [], _horizon(declined, age_s=old)) is None
    _tx(journal, 1, "finalize", 0, mined=False)
    unmined = journal.txs(job_id=1)
    assert "not mined" in compaction_blocker(settled, unmined, _horizon(settled, age_s=old))


def test_the_depth_a_settlement_must_be_buried_is_the_nodes_reorg_window():
    assert REORG_DEPTH_BLOCKS == 256
    assert interval_for(7 * DAY) == 3600  # hourly by default, never on every loop
    assert interval_for(1) == 1.0 and interval_for(600) == 60


def _journal_bytes(journal: Journal, folder: Path, name: str) -> int:
    """The journal's size with its free pages dropped (what a fresh copy would take)."""
    copy = folder / name
    journal._execute("VACUUM INTO ?", (str(copy),))
    return copy.stat().st_size


def test_a_compacted_journal_reports_the_same_money_in_a_fraction_of_the_bytes(
    journal, tmp_path, capsys
):
    jobs = 200
    empty = _journal_bytes(journal, tmp_path, "empty.sqlite3")  # tables and indexes alone
    for job_id in range(jobs):
        _job(journal, job_id, Step.SETTLED, payout=payout_after_fee(10**16, 100),
             result_cid="bafybeigzefbmfhyjpftl33u4h6n65y3xgu6ev6akdfqlgsjm2op4ndwpxi",
             status="succeeded", exit_code=0, event_block=30, fee_bps=100,
             reason="finalized after the review window")  # fmt: skip
        for offset, function in enumerate(("claim", "submit_result", "finalize")):
            _tx(journal, job_id, function, job_id * 3 + offset)
    _job(journal, jobs, Step.SUBMITTED, fee_bps=100)
    _tx(journal, jobs, "claim", jobs * 3)
    before = (journal.earnings(), journal.gas_spent(), journal.gas_cost(), journal.step_counts())
    size_before = _journal_bytes(journal, tmp_path, "before.sqlite3")

    with journal.transaction():
        for job_id in range(jobs):
            journal.compact(job_id, result_cid=None)

    after = (journal.earnings(), journal.gas_spent(), journal.gas_cost(), journal.step_counts())
    size_after = _journal_bytes(journal, tmp_path, "after.sqlite3")
    assert after == before
    assert before[0] == jobs * (10**16 - 10**14) and before[2] == (jobs * 3 + 1) * 40_000 * GWEI
    assert journal.job(0) is None and journal.txs(job_id=0) == []
    assert journal.compacted(0).step == Step.SETTLED and journal.compacted(0).gas_used == 120_000
    assert journal.job(jobs).step == Step.SUBMITTED and len(journal.txs(job_id=jobs)) == 1
    per_job_before = (size_before - empty) / jobs
    per_job_after = (size_after - empty) / jobs
    with capsys.disabled():
        print(f"\njournal bytes per settled job: {per_job_before:.0f} before compaction, "
              f"{per_job_after:.0f} after ({jobs} jobs)")  # fmt: skip
    assert per_job_after < per_job_before / 4


def test_a_compacted_job_whose_post_is_read_again_stays_compacted(journal):
    _job(journal, 1, Step.DECLINED)
    journal.compact(1, result_cid=None)

    assert journal.record_posted(posted(1, block=10)) == "same"
    assert journal.job(1) is None and journal.step_counts() == {"declined": 1}


def test_pending_earnings_are_the_submitted_prices_minus_their_fee(journal):
    _job(journal, 1, Step.SUBMITTED, fee_bps=250)
    _job(journal, 2, Step.SUBMITTED)  # fee not read yet
    _job(journal, 3, Step.SETTLED, payout=10**16, fee_bps=0)

    pending, fee_unknown = journal.pending_earnings()

    assert pending == 10**16 - 10**16 * 250 // 10_000
    assert [job.job_id for job in fee_unknown] == [2]


def test_a_version_2_journal_opens_as_version_3_and_its_old_receipts_are_priced_later(tmp_path):
    from journal_v2 import SCHEMA_V2

    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V2)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    now = time.time()
    db.execute(
        "INSERT INTO jobs (job_id, step, reason, requester, spec_digest, price_gwei, collateral, "
        "claim_deadline, work_timeout, review_window, posted_block, seen_at, updated_at, payout) "
        "VALUES (7, 'settled', 'accepted', 'r', '11', 1, '1', 1, 1, 1, 1, ?, ?, '1000')",
        (now, now),
    )
    db.execute(
        "INSERT INTO transactions (job_id, function, args, value, nonce, raw, hash, status, "
        "block_number, gas_used, created_at, updated_at) "
        "VALUES (7, 'claim', '[7]', '0', 0, x'00', '0x01', 'mined', 3, 40000, 0, 0)"
    )
    db.commit()
    db.close()

    journal = Journal(path)

    assert journal.get_meta("schema_version") == "3"
    assert journal.job(7).fee_bps is None and journal.earnings() == 1000
    assert [tx.hash for tx in journal.gas_prices_missing()] == ["0x01"]
    assert journal.gas_cost() == 0 and journal.gas_spent() == 40_000
    journal.compact(7, result_cid=None)
    assert journal.earnings() == 1000 and journal.gas_spent() == 40_000
    journal.close()
