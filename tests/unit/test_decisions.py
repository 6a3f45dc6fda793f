"""The node's decisions without Docker or a chain: policy, capacity, settler timing."""

from __future__ import annotations

import time

import pytest
from eth_abi import encode
from unit_support import posted

from jobmarket.chain.client import simulated_revert_reason
from jobmarket.content.store import IPFS_API_ENV, IPFS_TIMEOUT_ENV, open_store
from jobmarket.errors import InvalidInput
from jobmarket.spec import JobSpec, ProviderCapabilities
from provider_node.context.retry import backoff
from provider_node.context.settings import NodeSettings
from provider_node.lifecycle.capacity import Capacity
from provider_node.lifecycle.policy import JobPolicy
from provider_node.lifecycle.settler import close_dispute_due, finalize_due

CAPABILITIES = ProviderCapabilities.parse(
    {
        "node_version": "0.1.0",
        "hardware": {"cpus": 4, "memory_mb": 8192, "gpus": 0},
        "max_resources": {"cpu": 2, "memory_mb": 4096, "gpu": 0, "disk_mb": 2048},
        "max_timeout_s": 600,
        "price_floor_wei": "1000000000000000",
        "accepted_images": ["jobmarket/*"],
    }
)


def _policy(**settings: object) -> JobPolicy:
    return JobPolicy(CAPABILITIES, NodeSettings(**settings))  # type: ignore[arg-type]


def _spec(**fields: object) -> JobSpec:
    data = {
        "version": 1,
        "image": "jobmarket/busybox:1",
        "command": ["true"],
        "resources": {"cpu": 1, "memory_mb": 256, "gpu": 0, "disk_mb": 64},
        "timeout_s": 60,
        "network": "none",
        "verifier": "manual",
    }
    return JobSpec.parse(data | fields)


def _record(journal, **terms: object):
    journal.record_posted(posted(**terms))
    return journal.job(1)


def test_precheck_takes_a_fair_job_and_names_each_reason_to_decline(journal):
    now = int(time.time())
    assert _policy().precheck(_record(journal), now) == []
    cheap = _policy().precheck(_record(journal, price=10**14), now)
    assert len(cheap) == 1 and "below this node's floor" in cheap[0]


def test_precheck_leaves_a_job_whose_claim_deadline_is_within_the_margin(journal):
    job = _record(journal)
    assert _policy(claim_margin_s=5).precheck(job, job.claim_deadline - 6) == []
    late = _policy(claim_margin_s=5).precheck(job, job.claim_deadline - 4)
    assert late == ["the claim deadline has passed or is too close"]


def test_check_spec_refuses_denied_images_and_runs_that_cannot_deliver_in_time(journal):
    job = _record(journal)  # work timeout 300 s
    assert _policy().check_spec(_spec(), job) == []
    denied = _policy(deny_images=("jobmarket/busy*",)).check_spec(_spec(), job)
    assert denied == ["image: jobmarket/busybox:1 is denied on this node (jobmarket/busy*)"]
    slow = _policy(delivery_margin_s=30).check_spec(_spec(timeout_s=280), job)
    assert any(r.startswith("timeout_s: 280 s plus 30 s") for r in slow)


def test_limits_never_run_past_the_work_deadline_minus_the_delivery_margin():
    limits = _policy(delivery_margin_s=30).limits(_spec(timeout_s=500), seconds_left=100)
    assert limits.timeout_s == 70


def test_capacity_counts_slots_cpu_and_memory_and_frees_them():
    capacity = Capacity(cpus=2, memory_mb=1024, max_jobs=2)
    assert capacity.try_reserve(1, 1.0, 512, 10)
    assert not capacity.try_reserve(2, 1.5, 256, 10)  # CPU: 1 + 1.5 > 2
    assert not capacity.try_reserve(2, 1.0, 768, 10)  # memory: 512 + 768 > 1024
    assert capacity.try_reserve(2, 1.0, 512, 10)
    assert capacity.free_slots() == 0
    assert not capacity.try_reserve(3, 0.0, 0, 0)  # no slot left
    assert capacity.pending_collateral() == 20
    capacity.release(1)
    assert capacity.freed.is_set() and capacity.free_slots() == 1


def test_capacity_keeps_disk_promised_to_jobs_in_progress():
    capacity = Capacity(cpus=8, memory_mb=8192, max_jobs=4)
    assert capacity.try_reserve(1, 1, 1, 0, disk_bytes=600, disk_free=1000)
    assert not capacity.try_reserve(2, 1, 1, 0, disk_bytes=500, disk_free=1000)
    assert capacity.try_reserve(2, 1, 1, 0, disk_bytes=400, disk_free=1000)


def test_a_resumed_claim_is_recorded_even_when_it_does_not_fit():
    capacity = Capacity(cpus=1, memory_mb=256, max_jobs=1)
    assert capacity.try_reserve(1, 1, 256, 0)
    assert capacity.try_reserve(2, 1, 256, 0, force=True)


def test_finalize_is_due_strictly_after_the_review_deadline_plus_the_delay():
    assert not finalize_due(1000, 1000)
    assert finalize_due(1000, 1001)
    assert not finalize_due(1000, 1010, delay_s=10)
    assert finalize_due(1000, 1011, delay_s=10)


def test_close_dispute_waits_for_the_arbiter_deadline():
    assert not close_dispute_due(None, 10**9)
    assert not close_dispute_due(500, 500)
    assert close_dispute_due(500, 501)


def test_retries_back_off_by_doubling_up_to_a_ceiling():
    pauses = backoff(first=0.5, longest=5.0)
    assert [next(pauses) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_simulated_calls_revert_reason_is_read_from_its_data_or_its_message():
    data = "0x08c379a0" + encode(["string"], ["token fee on transfer"]).hex()
    assert simulated_revert_reason({"status": "0x0", "returnData": data}) == "token fee on transfer"
    assert simulated_revert_reason({"status": "0x1", "returnData": "0x"}) is None
    message = {"status": "0x0", "returnData": "0x", "error": {"message": "execution reverted: x"}}
    assert simulated_revert_reason(message) == "x"
    assert simulated_revert_reason({"status": "0x0", "returnData": "0x08c379a0ff"}) == (
        "reverted without a reason"
    )


def test_the_kubo_timeout_is_read_from_the_environment_in_one_rule(monkeypatch):
    monkeypatch.setenv(IPFS_API_ENV, "http://127.0.0.1:5001")
    monkeypatch.setenv(IPFS_TIMEOUT_ENV, "10s")
    with open_store() as store:
        assert store.timeout == 10.0
    monkeypatch.setenv(IPFS_TIMEOUT_ENV, "soon")
    with pytest.raises(InvalidInput, match="cannot read the JOBMARKET_IPFS_TIMEOUT 'soon'"):
        open_store()
