"""A provider node serving a real market: a job goes from post to payout, the node declines
what it should not take, settles its own jobs, and reports what it did."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from node_world import PRICE, PROVIDER, PROVIDER_ADDRESS, REQUESTER, Market, shell_job
from support.node import ProviderNode, register_provider

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState
from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.spec.job import InputMount
from provider_node.cli import main

FLOOR = 10**12  # 1000 gwei
REGISTER_ARGS = ["--price-floor", "1000 gwei", "--max-memory-mb", "2048"]
NODE_ARGS = ["--deny-image", "*/forbidden:*", "--delivery-margin", "10"]


def test_a_posted_job_is_claimed_run_pinned_submitted_and_paid(
    market: Market, node: ProviderNode, tmp_path: Path
) -> None:
    data = b"first line\nsecond line\n" * 1000
    data_cid = market.store.add_bytes(data, pin=True)
    spec = shell_job(
        "sha256sum /in/data/table.csv | cut -d' ' -f1 > /out/digest;"
        "mkdir -p /out/extra; wc -l < /in/data/table.csv > /out/extra/lines;"
        "echo not-requested > /out/scratch; echo finished",
        inputs=[InputMount(cid=str(data_cid), path="data/table.csv")],
        outputs=["digest", "extra"],
        timeout_s=60,
    )
    stake_before = market.client.provider_info(PROVIDER_ADDRESS).stake
    job_id = market.post(spec)

    submitted = node.wait_for_step(job_id, "submitted", timeout=60)
    manifest = market.fetch(job_id, tmp_path / "result")
    market.accept(job_id)
    settled = node.wait_for_step(job_id, "settled", timeout=30)

    assert node.steps_of(job_id) == [
        "seen",
        "claiming",
        "claimed",
        "running",
        "pinned",
        "submitted",
        "settled",
    ]
    assert manifest.status == "succeeded" and manifest.exit_code == 0
    assert {record.path for record in manifest.outputs} == {"digest", "extra/lines"}
    outputs = tmp_path / "result" / "outputs"
    assert (outputs / "digest").read_text().strip() == hashlib.sha256(data).hexdigest()
    assert (outputs / "extra" / "lines").read_text().strip() == "2000"
    for record in manifest.outputs:  # what the requester holds is what the manifest promised
        assert hashlib.sha256((outputs / record.path).read_bytes()).hexdigest() == record.sha256
    assert manifest.logs.stdout_tail == "finished\n"
    assert manifest.limits.network == "none" and manifest.limits.user == "65534:65534"
    result_cid = Cid.from_digest(market.result_digest(job_id), DAG_PB)
    assert submitted["cid"] == str(result_cid)
    assert settled["reason"] == "accepted by the requester"
    assert market.job(job_id).state == JobState.ACCEPTED
    info = market.client.provider_info(PROVIDER_ADDRESS)
    assert (info.stake, info.locked) == (stake_before + PRICE, 0)


def test_the_node_finalizes_its_job_once_the_review_window_has_passed(
    market: Market, node: ProviderNode
) -> None:
    job_id = market.post(shell_job("echo quick > /out/x"), review_window=2)

    settled = node.wait_for_step(job_id, "settled", timeout=60)

    assert settled["reason"] == "finalized after the review window"
    assert market.job(job_id).state == JobState.ACCEPTED
    assert len(market.calls("finalize", PROVIDER_ADDRESS, job_id)) == 1


def test_jobs_it_should_not_take_are_declined_before_any_money_is_at_stake(
    market: Market, node: ProviderNode
) -> None:
    def image(name: str):
        return shell_job("true").model_copy(update={"image": name})

    cases = {
        "below the price floor": market.post(shell_job("true"), price=FLOOR - 10**9),
        "designated to another": market.post(shell_job("true"), designated=dev_account(3).address),
        "spec in no store": market.post(digest=hashlib.sha256(b"no such spec").digest()),
        "more memory than offered": market.post(shell_job("true", resources={"memory_mb": 4096})),
        "denied image": market.post(image("x/forbidden:1")),
        "image not on this node": market.post(image("nowhere/missing:1")),
        "network not offered": market.post(shell_job("true", network="bridge")),
        "longer than the work timeout": market.post(shell_job("true"), work_timeout=300),
    }
    at_the_floor = market.post(shell_job("echo taken"), price=FLOOR)

    reasons = {
        name: node.wait_for_step(job_id, "declined", timeout=30)["reason"]
        for name, job_id in cases.items()
    }
    node.wait_for_step(at_the_floor, "submitted", timeout=60)

    assert "below this node's floor" in reasons["below the price floor"]
    assert reasons["designated to another"] == f"designated to {dev_account(3).address}"
    assert reasons["spec in no store"].startswith("spec unavailable")
    assert "resources.memory_mb" in reasons["more memory than offered"]
    assert "denied on this node" in reasons["denied image"]
    assert "not on this node and pulling is disabled" in reasons["image not on this node"]
    assert "network" in reasons["network not offered"]
    assert "work timeout" in reasons["longer than the work timeout"]
    for name, job_id in cases.items():
        assert market.job(job_id).state == JobState.OPEN, name
        assert market.calls("claim", PROVIDER_ADDRESS, job_id) == [], name


def test_status_shows_jobs_in_flight_stake_and_earnings(market: Market, node: ProviderNode) -> None:
    job_id = market.post(shell_job("sleep 6; echo slow"))
    node.wait_for_step(job_id, "running", timeout=30)

    runner = CliRunner(mix_stderr=False)
    options = ["--rpc-url", market.url, "--account", PROVIDER]
    data = json.loads(runner.invoke(main, ["status", *options, "--json"]).stdout)
    text = runner.invoke(main, ["status", *options]).stdout

    assert data["running"] and data["registered"]
    in_flight = {job["job_id"]: job["step"] for job in data["in_flight"]}
    assert in_flight[job_id] == "running"
    assert set(in_flight.values()) <= {"running", "submitted"}  # others await their review
    # Each claimed, unsettled job locks the market's 10 % collateral.
    assert int(data["locked"]) == sum(int(job["price"]) // 10 for job in data["in_flight"])
    assert int(data["earnings"]) >= PRICE and data["completed"] >= 1
    assert data["jobs"]["settled"] >= 1 and data["jobs"]["declined"] >= 8
    assert data["scanned_to_block"] <= data["head_block"]
    assert [line.split()[:2] for line in text.splitlines() if "running " in line] == [
        [str(job_id), "running"]
    ]
    assert "stake       1.0" in text and "not running" not in text
    node.wait_for_step(job_id, "submitted", timeout=30)


def test_a_disputed_job_settles_by_the_arbiter_or_after_the_arbiter_deadline(
    market: Market, node: ProviderNode
) -> None:
    arbiter = dev_account(9)
    resolved_job = market.post(shell_job("echo contested"))
    abandoned_dispute = market.post(shell_job("echo contested too"))
    for job_id in (resolved_job, abandoned_dispute):
        node.wait_for_step(job_id, "submitted", timeout=60)
        market.client.transact(REQUESTER, "dispute", job_id)
        node.wait_for(lambda e, j=job_id: e.get("event") == "disputed" and e.get("job") == str(j))

    market.client.transact(arbiter, "resolve", resolved_job, 7000)
    by_arbiter = node.wait_for_step(resolved_job, "settled", timeout=30)
    # The arbiter never rules on the other one: once its window has passed, the node closes it.
    window = market.client.contract.functions.arbiter_window().call()
    market.w3.provider.make_request("evm_increaseTime", [window + 1])
    market.mine()
    neutral = node.wait_for_step(abandoned_dispute, "settled", timeout=30)

    assert by_arbiter["reason"] == "dispute resolved: 70% of the price to us"
    assert by_arbiter["payout"] == "0.007 ETH"
    assert neutral["reason"].startswith("dispute closed with the neutral outcome")
    assert market.job(abandoned_dispute).state == JobState.RESOLVED
    assert market.calls("finalize", PROVIDER_ADDRESS, resolved_job) == []


def test_a_new_registration_applies_to_the_next_job_without_a_restart(
    market: Market, node: ProviderNode, tmp_path: Path
) -> None:
    # Runs last in this module: it raises the memory the node offers (2048 MB until now).
    since = node.mark()
    register_provider(
        market.url,
        market.home,
        account=PROVIDER,
        stake="0",
        args=["--price-floor", "1000 gwei", "--max-memory-mb", "3072"],
    )
    node.wait_for(lambda e: e.get("event") == "capabilities-updated", since=since, timeout=30)
    job_id = market.post(shell_job("echo roomier", resources={"memory_mb": 3072}))

    node.wait_for_step(job_id, "submitted", timeout=60)
    manifest = market.fetch(job_id, tmp_path / "result")

    assert manifest.status == "succeeded"
    assert manifest.limits.memory_mb == 3072  # the new maximum, not the one the node started with
