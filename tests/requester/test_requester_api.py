"""The Python API: post, status, wait, results, accept, cancel, reclaim, lists and estimates,
against a real anvil and the real content store."""

from __future__ import annotations

import hashlib
import json

import pytest
from requester_support import (
    CAPABILITIES,
    IMAGE,
    OTHER_REQUESTER,
    STAKE,
    Background,
    ScriptedProvider,
)

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState
from jobmarket.content.cid import Cid
from jobmarket.errors import IntegrityError
from jobmarket.spec.job import JobSpec
from requester.api import Requester
from requester.estimate import TYPICAL_GAS
from requester.job import JobStalled
from requester.signer import KeySigner

PRICE = 10**16


def test_post_uploads_inputs_and_escrows_the_price(requester, provider, chain, store, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "one.txt").write_text("one")
    market_before = chain.balance(chain.client.address)

    job = requester.post(
        image=IMAGE,
        command="sh -c 'wc -l /in/data.csv > /out/lines'",
        inputs=[str(data), f"pictures={folder}"],
        env={"MODE": "fast"},
        price="0.01",
        claim_within="15m",
        review_window="2h",
    )

    spec = JobSpec.fetch(store, chain.client.spec_digest(job.id))
    assert spec.command == ["sh", "-c", "wc -l /in/data.csv > /out/lines"]
    assert spec.env == {"MODE": "fast"}
    mounts = {mount.path: Cid.parse(mount.cid) for mount in spec.inputs}
    assert set(mounts) == {"data.csv", "pictures"}
    assert b"".join(store.cat(mounts["data.csv"])) == b"a,b\n1,2\n"
    assert [entry.name for entry in store.ls(mounts["pictures"])] == ["sub"]
    assert chain.balance(chain.client.address) - market_before == PRICE

    view = job.view()
    assert (view.state, view.price, view.work_timeout, view.review_window) == (
        JobState.OPEN,
        PRICE,
        spec.timeout_s + 600,
        7200,
    )
    [record] = job.transactions
    receipt = chain.client.w3.eth.get_transaction_receipt(record.tx_hash)
    assert (record.function, record.job_id, record.value) == ("post_job", job.id, PRICE)
    assert record.gas_used == receipt["gasUsed"]
    assert record.gas_cost == receipt["gasUsed"] * receipt["effectiveGasPrice"]


def test_post_from_a_spec_file_keeps_the_spec(requester, provider, chain, store, tmp_path):
    cid = store.add_bytes(b"input bytes", pin=True)
    document = {
        "image": IMAGE,
        "command": ["cat", "/in/blob"],
        "inputs": [{"cid": str(cid), "path": "blob"}],
        "timeout_s": 60,
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(document))

    job = requester.post(path, price="250000 gwei")

    assert chain.client.spec_digest(job.id) == JobSpec.from_file(path).digest
    assert job.view().price == 250_000 * 10**9


def test_status_says_what_happens_next_and_what_it_cost(requester, post, provider):
    job_id = post(claim_within="20m")
    job = requester.job(job_id)

    status = job.status()
    assert status.deadline_name == "claim deadline"
    assert 1190 <= status.view.deadline - status.now <= 1200
    assert status.waiting_on.startswith("any registered provider to claim it until")
    assert [(m.actor, m.function) for m in status.moves] == [
        ("any registered provider", "claim"),
        ("the requester", "cancel"),
        ("anyone", "reclaim"),
    ]
    assert status.costs.escrowed == PRICE
    assert status.costs.gas == status.steps[0].tx.cost > 0

    provider.claim(job_id)
    status = job.status()
    assert status.state is JobState.CLAIMED
    assert status.deadline_name == "work deadline"
    assert status.waiting_on.startswith(f"the provider {provider.address} to submit a result")
    assert [step.event for step in status.steps] == ["JobPosted", "JobClaimed"]
    assert status.steps[1].tx.sender == provider.address
    # The provider's gas is not the requester's cost.
    assert status.costs.gas == status.steps[0].tx.cost


def test_cancel_refunds_the_price_and_costs_only_gas(requester, post, provider, chain):
    before = chain.balance(requester.address)
    job_id = post()
    record = requester.job(job_id).cancel()

    status = requester.job(job_id).status()
    assert status.state is JobState.CANCELED
    assert status.costs.refunded == PRICE
    spent = before - chain.balance(requester.address)
    assert spent == status.costs.gas == status.costs.net
    assert record.gas_cost == status.steps[-1].tx.cost


def test_reclaim_after_the_claim_deadline_refunds_the_price(requester, post, provider, chain):
    job_id = post(claim_within="2m")
    chain.increase_time(121)
    requester.job(job_id).reclaim()

    status = requester.job(job_id).status()
    assert status.state is JobState.EXPIRED
    assert status.costs.refunded == PRICE
    assert status.steps[-1].summary == "expired: 0.01 ETH refunded"


def test_reclaim_after_the_work_deadline_takes_the_collateral(requester, post, provider, chain):
    job_id = post(timeout="1m", work_timeout="5m")
    provider.claim(job_id)
    slashed_before = chain.client.provider_info(provider.address).slashed
    collateral = requester.job(job_id).view().collateral
    chain.increase_time(301)

    requester.job(job_id).reclaim()

    status = requester.job(job_id).status()
    assert status.state is JobState.EXPIRED
    assert status.costs.refunded == PRICE + collateral
    assert status.costs.net == status.costs.gas - collateral
    assert chain.client.provider_info(provider.address).slashed == slashed_before + 1


def test_wait_reports_each_step_as_it_happens(requester, post, provider, tmp_path):
    job_id = post()
    seen: list[tuple[str, JobState]] = []
    ticks: list[JobState] = []

    with Background(
        (0.3, lambda: provider.claim(job_id)),
        (0.3, lambda: provider.deliver_claimed(job_id, tmp_path, {"out.txt": b"42\n"})),
    ):
        final = requester.job(job_id).wait(
            on_step=lambda step, status: seen.append((step.event, step.state)),
            on_tick=lambda status: ticks.append(status.state),
            timeout=30,
        )

    assert final.state is JobState.SUBMITTED
    assert seen == [
        ("JobPosted", JobState.OPEN),
        ("JobClaimed", JobState.CLAIMED),
        ("ResultSubmitted", JobState.SUBMITTED),
    ]
    assert ticks[0] is JobState.OPEN and ticks[-1] is JobState.SUBMITTED


def test_wait_gives_up_after_its_timeout_without_touching_the_job(requester, post, provider):
    job_id = post()
    with pytest.raises(Exception, match=f"job {job_id} is still OPEN after 0s; waiting on"):
        requester.job(job_id).wait(timeout=0.5, poll_interval=0.1)
    assert requester.job(job_id).view().state is JobState.OPEN


def test_results_are_verified_and_then_accepted(requester, post, provider, chain, tmp_path):
    job_id = post()
    provider.deliver(
        job_id, tmp_path / "work", {"answer.txt": b"42\n", "deep/x.bin": b"\0" * 300_000}
    )
    completed_before = chain.client.provider_info(provider.address).completed

    manifest = requester.job(job_id).results(tmp_path / "result")

    assert manifest.job_id == job_id and manifest.status == "succeeded"
    assert (tmp_path / "result/outputs/answer.txt").read_bytes() == b"42\n"
    by_path = {record.path: record for record in manifest.outputs}
    assert by_path["deep/x.bin"].sha256 == hashlib.sha256(b"\0" * 300_000).hexdigest()

    record = requester.job(job_id).accept()
    assert record.function == "accept"
    assert requester.job(job_id).status().state is JobState.ACCEPTED
    assert chain.client.provider_info(provider.address).completed == completed_before + 1


def test_a_result_that_does_not_match_its_manifest_is_refused(requester, post, provider, tmp_path):
    job_id = post()
    provider.claim(job_id)
    result = provider.result_dir(job_id, tmp_path / "work", {"answer.txt": b"42\n"})
    (result / "outputs" / "answer.txt").write_bytes(b"43\n")  # changed after the manifest
    provider.submit(job_id, result)

    with pytest.raises(IntegrityError, match=r"answer\.txt has (size|sha256)"):
        requester.job(job_id).results(tmp_path / "result")
    assert not (tmp_path / "result").exists()


def test_a_result_made_for_another_spec_is_refused(requester, post, provider, tmp_path):
    job_id = post()
    provider.claim(job_id)
    other_spec = Cid.from_digest(hashlib.sha256(b"another spec").digest())
    result = provider.result_dir(job_id, tmp_path / "work", {"a": b"1"}, spec_cid=other_spec)
    provider.submit(job_id, result)

    with pytest.raises(IntegrityError, match=f"was made for spec {other_spec}"):
        requester.job(job_id).results(tmp_path / "result")
    assert not (tmp_path / "result").exists()


def test_jobs_lists_only_this_accounts_jobs(requester, post, provider, chain):
    mine = post()
    with Requester.connect(chain.url, f"TEST::{OTHER_REQUESTER}") as other:
        theirs = other.post(image=IMAGE, command="true", price="0.01").id
        assert theirs in [s.view.job_id for s in other.jobs()]
    requester.job(mine).cancel()

    listed = {summary.view.job_id: summary for summary in requester.jobs()}
    assert mine in listed and theirs not in listed
    assert listed[mine].view.state is JobState.CANCELED
    assert mine not in [s.view.job_id for s in requester.jobs(active_only=True)]


def test_providers_show_stake_record_and_verified_capabilities(requester, provider, chain, store):
    newcomer = ScriptedProvider(chain.client, dev_account(6), store)
    unknown_document = hashlib.sha256(b"a document nobody stored").digest()
    chain.client.transact(newcomer.account, "register", unknown_document, value=STAKE // 2)

    listings = {listing.address: listing for listing in requester.providers()}

    known = listings[provider.address]
    assert known.registered and known.stake >= STAKE
    assert known.capabilities == CAPABILITIES
    assert known.capabilities_cid == CAPABILITIES.cid
    fresh = listings[newcomer.address]
    assert (fresh.stake, fresh.completed, fresh.slashed) == (STAKE // 2, 0, 0)
    assert fresh.capabilities is None
    cid = Cid.from_digest(unknown_document)
    assert fresh.capabilities_problem == f"block {cid} is not in the local store"


def test_the_estimate_matches_what_the_transactions_really_cost(
    requester, post, provider, chain, tmp_path
):
    estimate = requester.estimate(
        image=IMAGE, command="true", price="0.01", provider=provider.address
    )
    assert estimate.post_gas_estimated
    assert [(p.address, r) for p, r in estimate.providers] == [(provider.address, [])]

    accepted = post(provider=provider.address)
    provider.deliver(accepted, tmp_path / "a", {"x": b"1"})
    disputed = post()
    provider.deliver(disputed, tmp_path / "d", {"x": b"1"})
    canceled = post()
    reclaimed = post(timeout="1m", work_timeout="2m")
    provider.claim(reclaimed)
    actual = {
        "accept": requester.job(accepted).accept().gas_used,
        "dispute": requester.job(disputed).dispute().gas_used,
        "cancel": requester.job(canceled).cancel().gas_used,
    }
    chain.increase_time(121)
    actual["reclaim"] = requester.job(reclaimed).reclaim().gas_used
    actual["post_job"] = requester.job(accepted).status().steps[0].tx.gas_used

    assert estimate.gas["post_job"] == actual["post_job"]
    for function in ("accept", "dispute", "cancel", "reclaim"):
        assert abs(TYPICAL_GAS[function] - actual[function]) <= TYPICAL_GAS[function] // 10, (
            function,
            actual[function],
        )


def test_the_estimate_names_providers_that_would_refuse(requester, provider):
    estimate = requester.estimate(image="docker.io/library/python:3", command="true", price="0.01")
    [refusals] = [r for p, r in estimate.providers if p.address == provider.address]
    assert refusals == ["image: docker.io/library/python:3 matches none of the accepted images"]


def test_any_signer_can_sign(chain, provider):
    class CountingSigner(KeySigner):
        signed = 0

        def sign(self, tx):
            CountingSigner.signed += 1
            return super().sign(tx)

    with Requester.connect(chain.url, CountingSigner(dev_account(4))) as someone:
        job = someone.post(image=IMAGE, command="true", price="0.01")
        job.cancel()
    assert CountingSigner.signed == 2
    assert job.view().requester == dev_account(4).address


def test_watch_follows_every_job_of_the_account(requester, post, provider):
    first = post()
    later: list[int] = []
    steps: list[tuple[int, str]] = []

    with Background(
        (0.3, lambda: provider.claim(first)),
        (0.1, lambda: later.append(post())),
        (0.1, lambda: requester.job(later[0]).cancel()),
    ):
        states = requester.watch(
            on_step=lambda step: steps.append((step.job_id, step.event)),
            timeout=2.5,
            poll_interval=0.1,
        )

    [second] = later
    assert (first, "JobClaimed") in steps
    assert (second, "JobPosted") in steps and (second, "JobCanceled") in steps
    assert states[first] is JobState.CLAIMED and states[second] is JobState.CANCELED


def test_wait_stops_when_the_provider_missed_its_work_deadline(requester, post, provider, chain):
    job_id = post(timeout="1m", work_timeout="2m")
    provider.claim(job_id)
    chain.increase_time(121)
    with pytest.raises(JobStalled, match=f"the provider {provider.address} missed its work"):
        requester.job(job_id).wait(timeout=10)
