"""Housekeeping on a real node (anvil, Docker, the embedded store): jobs that ended more than
``--retention`` ago (1 s here) and lie deeper than any reorg are compacted in the journal and
their results unpinned and deleted from the store, while ``status`` keeps every total; a job
still under review is untouched. Earnings: pending = Σ (price - fee) of the submitted jobs, net
= credited - the gas the receipts say was paid."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from node_world import PRICE, PROVIDER_ADDRESS, REQUESTER, Market, node_id, shell_job
from support.node import ProviderNode

from jobmarket.content import ipld
from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.spec.job import InputMount
from jobmarket.spec.result_dir import RESULT_PARAMS
from provider_node.journal.store import payout_after_fee
from provider_node.lifecycle.housekeeping import REORG_DEPTH_BLOCKS

NODE_ARGS = ["--retention", "1s"]
FEE_BPS = 100  # 1 %: set by the market's owner (the requester's account here) before any post


def _journal(market: Market, node: ProviderNode) -> Path:
    return market.home / "nodes" / node_id(node) / "journal.sqlite3"


def _rows(path: Path, job_ids: list[int]) -> dict[str, int]:
    """Journal rows of these jobs, by table (read beside the running node, as WAL allows)."""
    marks = ", ".join("?" * len(job_ids))
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {
            table: db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE job_id IN ({marks})", job_ids
            ).fetchone()[0]
            for table in ("jobs", "transactions", "compacted_jobs")
        }


def _bytes(path: Path, job_ids: list[int]) -> int:
    """Bytes these jobs' rows hold in the journal (every column's stored value; a page-level
    count needs hundreds of jobs to move, see tests/unit/test_housekeeping.py)."""
    marks = ", ".join("?" * len(job_ids))
    total = 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        for table in ("jobs", "transactions", "compacted_jobs"):
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            size = " + ".join(f"COALESCE(length(CAST({c} AS BLOB)), 0)" for c in columns)
            total += db.execute(
                f"SELECT COALESCE(SUM({size}), 0) FROM {table} WHERE job_id IN ({marks})", job_ids
            ).fetchone()[0]
    return total


def _gas_paid_on_chain(market: Market) -> int:
    """Σ gas used * effective gas price of every transaction the provider sent, from the
    chain's own receipts (the independent figure the journal must match)."""
    total = 0
    for number in range(market.first_block, market.w3.eth.block_number + 1):
        block = market.w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if tx["from"] == PROVIDER_ADDRESS:
                receipt = market.w3.eth.get_transaction_receipt(tx["hash"])
                total += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    return total


def test_ended_jobs_are_compacted_and_unpinned_after_the_retention_and_status_keeps_the_totals(
    market: Market, node: ProviderNode, tmp_path: Path
) -> None:
    market.client.transact(REQUESTER, "set_params", FEE_BPS, 1000, 2000)
    data = os.urandom(300_000)  # two chunks, which each job copies to its result: shared blocks
    data_cid = market.store.add_bytes(data, pin=True, params=RESULT_PARAMS)
    ended = [
        market.post(
            shell_job(
                f"cat /in/data > /out/copy; echo job {n}",
                inputs=[InputMount(cid=str(data_cid), path="data")],
            )
        )
        for n in range(3)
    ]
    under_review = market.post(shell_job("echo waiting for my review"))
    for job_id in [*ended, under_review]:
        node.wait_for_step(job_id, "submitted", timeout=90)
    results = {j: Cid.from_digest(market.result_digest(j), DAG_PB) for j in [*ended, under_review]}
    blocks = {j: [c for c, _ in ipld.walk(market.store.get_block, r)] for j, r in results.items()}
    input_blocks = {cid.multihash for cid, _ in ipld.walk(market.store.get_block, data_cid)}
    for job_id in ended:
        market.accept(job_id)
        node.wait_for_step(job_id, "settled", timeout=30)
    folder = market.home / "nodes" / node_id(node)
    journal = _journal(market, node)
    before = node.status()
    rows_before = _rows(journal, ended)
    bytes_before = _bytes(journal, ended)

    # Stand-in for a URL input downloaded for a job a rival then claimed (no URL server here).
    stale_download = folder / "downloads" / ("ab" * 32)
    stale_download.parent.mkdir(exist_ok=True)
    stale_download.write_bytes(b"downloaded an hour ago")
    os.utime(stale_download, (time.time() - 3600, time.time() - 3600))
    # The node held each job's spec and inputs from its decision to its staging, then let go.
    holds = f"inputs-{node_id(node)}-"
    assert market.store.held(holds) == []
    # Stand-ins for holds a crash (or a rival's claim) left behind: one of a settled job, one
    # of a job the journal never knew; and another node's, sharing this store, kept.
    market.store.hold(f"{holds}{ended[0]}", [data_cid])
    market.store.hold(f"{holds}999999", [data_cid])
    market.store.hold("inputs-another-node-1", [data_cid])
    # The retention (1 s) has passed, but the settlements are too near the head for a reorg to
    # be ruled out: nothing is compacted until they lie deeper than the node's reorg window.
    assert node.events("housekept") == [] and rows_before["compacted_jobs"] == 0
    since = node.mark()
    market.mine(REORG_DEPTH_BLOCKS + 10)
    done = node.wait_for(
        lambda e: e.get("event") == "housekept" and int(e["compacted"]) >= len(ended),
        since=since,
        timeout=60,
    )
    after = node.status()
    rows_after = _rows(journal, ended)
    bytes_after = _bytes(journal, ended)

    totals = ("earnings", "pending_earnings", "gas_cost", "gas_used", "net_earnings", "jobs")
    assert {key: after[key] for key in totals} == {key: before[key] for key in totals}
    payout = payout_after_fee(PRICE, FEE_BPS)
    assert int(after["earnings"]) == len(ended) * payout
    assert int(after["pending_earnings"]) == payout  # the job under review, minus its 1 % fee
    assert int(after["gas_cost"]) == _gas_paid_on_chain(market) > 0
    assert int(after["net_earnings"]) == int(after["earnings"]) - int(after["gas_cost"])
    assert after["jobs"]["settled"] == len(ended) and after["jobs"]["submitted"] == 1
    # One summary row per job instead of its row and its claim and submit transactions.
    assert rows_before == {"jobs": 3, "transactions": 6, "compacted_jobs": 0}
    assert rows_after == {"jobs": 0, "transactions": 0, "compacted_jobs": 3}
    assert bytes_after < bytes_before / 5
    print(f"\njournal bytes per job: {bytes_before / len(ended):.0f} before compaction, "
          f"{bytes_after / len(ended):.0f} after")  # fmt: skip
    # Their results are unpinned and their blocks deleted, but for those still pinned content
    # shares: the input's chunks (copied to /out), the other result's (an empty stderr.log).
    assert int(done["results_unpinned"]) == len(ended)
    pins = market.store.pins()
    assert not any(results[j] in pins for j in ended) and data_cid in pins
    shared = input_blocks | {cid.multihash for cid in blocks[under_review]}
    for job_id in ended:
        for cid in blocks[job_id]:
            assert market.store.has(cid) == (cid.multihash in shared), (job_id, cid)
        assert {cid.multihash for cid in blocks[job_id]} & input_blocks  # the copied chunks
    # The job still under review keeps its row, its transactions and its pinned result.
    assert _rows(journal, [under_review]) == {"jobs": 1, "transactions": 2, "compacted_jobs": 0}
    assert results[under_review] in pins
    assert all(market.store.has(cid) for cid in blocks[under_review])
    assert market.store.held(holds) == []  # the housekeeper dropped this node's leftovers
    assert market.store.held("inputs-another") == ["inputs-another-node-1"]
    market.store.drop("inputs-another-node-1")
    # Nothing of any job is left on disk: downloads, staged inputs, result and executor folders.
    assert not stale_download.exists()
    for job_id in [*ended, under_review]:
        assert not (folder / "inputs" / str(job_id)).exists()
        assert not (folder / "results" / str(job_id)).exists()
        assert not (folder / "jobs" / f"{node_id(node)}-{job_id}").exists()


def test_a_retention_that_is_not_a_duration_is_one_error_line() -> None:
    from click.testing import CliRunner

    from provider_node.cli import main

    result = CliRunner(mix_stderr=False).invoke(main, ["run", "--retention", "a week"])

    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot read the retention"), lines
    assert "1h30m or 2d" in lines[0]  # and how to write one
