"""A version-1 journal (sub-states as text in ``reason``) opens as the current version (2 made
sub-states explicit, 3 journals GPU allocations, gas prices and fees), jobs in place."""

from __future__ import annotations

import sqlite3
import time

from journal_v1 import SCHEMA_V1

from provider_node.journal.store import SCHEMA_VERSION, Journal
from provider_node.lifecycle.steps import Step, Waiting

V1_ROWS = [
    (1, "seen", "waiting for a free slot", 9.0),
    (2, "seen", "stake too low: the claim locks 0.1 ETH, 0 ETH is free", 9.0),
    (3, "seen", "claim refused for now: stake too low", 9.0),
    (4, "seen", "another provider's claim is pending", 9.0),
    (5, "running", "abandoning: internal error: boom", 0.0),
    (6, "seen", "", 0.0),  # its claim transaction was signed before a crash
    (7, "settled", "accepted by the requester", 0.0),
]


def _v1_journal(path) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    now = time.time()
    for job_id, step, reason, not_before in V1_ROWS:
        db.execute(
            "INSERT INTO jobs (job_id, step, reason, requester, spec_digest, price_gwei, "
            "collateral, claim_deadline, work_timeout, review_window, posted_block, not_before, "
            "seen_at, updated_at) VALUES (?, ?, ?, 'r', '11', 1, '1', 1, 1, 1, 1, ?, ?, ?)",
            (job_id, step, reason, not_before, now, now),
        )
    db.execute(
        "INSERT INTO transactions (job_id, function, args, value, nonce, raw, hash, status, "
        "created_at, updated_at) VALUES (6, 'claim', '[6]', '0', 0, x'00', '0x01', 'sent', 0, 0)"
    )
    db.commit()
    db.close()


def test_a_version_1_journal_opens_with_every_sub_state_explicit(tmp_path):
    path = tmp_path / "journal.sqlite"
    _v1_journal(path)
    journal = Journal(path)
    assert journal.get_meta("schema_version") == str(SCHEMA_VERSION) == "3"
    got = {j.job_id: (j.step, j.waiting, j.reason) for j in journal.jobs()}
    assert got[1][:2] == (Step.SEEN, Waiting.CAPACITY)
    assert got[2][:2] == (Step.SEEN, Waiting.STAKE)
    assert got[3][:2] == (Step.SEEN, Waiting.STAKE)  # the case that never woke on re-staking
    assert got[4][:2] == (Step.SEEN, Waiting.RIVAL_CLAIM)
    assert got[5] == (Step.ABANDONING, Waiting.NOT, "internal error: boom")
    assert got[6][0] == Step.CLAIMING
    assert got[7][0] == Step.SETTLED
    assert all(job.gpu_indexes == () for job in journal.jobs())  # none allocated before v3
    journal.close()
    reopened = Journal(path)  # and a migrated journal opens again as it is
    assert reopened.job(5).step == Step.ABANDONING
    reopened.close()
