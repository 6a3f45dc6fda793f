"""The ``requester`` command line, in-process: JSON for scripts, text and live progress for
people, against a real anvil and the content store."""

from __future__ import annotations

import io
import json
import re

from eth_account import Account
from requester_support import IMAGE, Background

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState
from requester.progress import JobProgress

ME = dev_account(0).address
POST = ("post", "--image", IMAGE, "--cmd", "sh -c 'echo hi > /out/hello'", "--price", "0.01")


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def as_json(result):
    return json.loads(ok(result))


def test_post_and_status_as_json(cli, provider, chain, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("x\n")
    posted = as_json(cli(*POST, "--input", str(data), "--claim-within", "30m", "--json"))

    job_id = posted["job_id"]
    assert posted["spec_cid"].startswith("bafkrei")
    [tx] = posted["transactions"]
    assert tx["function"] == "post_job" and tx["value_wei"] == str(10**16)
    assert int(tx["gas_cost_wei"]) == tx["gas_used"] * int(tx["gas_price_wei"])

    status = as_json(cli("status", str(job_id), "--json"))
    assert status["state"] == "OPEN" and status["requester"] == ME
    assert status["deadline"]["name"] == "claim deadline"
    assert 1790 <= status["deadline"]["seconds_left"] <= 1800
    assert [m["function"] for m in status["next_moves"] if m["open_now"]] == ["claim", "cancel"]
    assert status["steps"][0]["event"] == "JobPosted"
    assert status["costs"]["escrowed_wei"] == str(10**16)
    assert status["spec_cid"] == posted["spec_cid"]


def test_status_as_text_for_people(cli, post, provider):
    job_id = post(claim_within="10m")
    text = ok(cli("status", str(job_id)))
    assert text.startswith(f"job {job_id}: OPEN\n")
    assert re.search(r"claim deadline: +\S+ \S+ UTC \(in (9m \d+s|10m)\)", text), text
    assert f"requester:       {ME} (you)" in text
    assert "any registered provider may claim it until" in text
    assert "posted for 0.01 ETH" in text and "by you" in text
    assert "costs so far: escrowed 0.01 ETH" in text


def test_cancel_as_json_reports_the_transaction_and_the_refund(cli, post, provider):
    job_id = post()
    report = as_json(cli("cancel", str(job_id), "--json"))
    assert report["state"] == "CANCELED"
    assert report["transaction"]["function"] == "cancel"
    assert report["costs"]["refunded_wei"] == str(10**16)
    assert ok(cli("status", str(job_id))).startswith(f"job {job_id}: CANCELED")


def test_reclaim_from_the_command_line_after_a_missed_deadline(cli, post, provider, chain):
    job_id = post(claim_within="1m")
    chain.increase_time(61)
    text = ok(cli("reclaim", str(job_id)))
    assert text.startswith("reclaim mined in block")
    assert f"job {job_id} is EXPIRED" in text


def test_wait_prints_plain_lines_when_not_on_a_terminal(cli, post, provider, tmp_path):
    job_id = post()
    with Background(
        (0.5, lambda: provider.claim(job_id)),
        (0.3, lambda: provider.deliver_claimed(job_id, tmp_path, {"a": b"1"})),
    ):
        text = ok(cli("wait", str(job_id), "--timeout", "30s"))

    lines = text.splitlines()
    assert "\x1b" not in text and "\r" not in text
    steps = [line for line in lines[:-1] if not line.startswith("job ")]
    assert [line.split()[1] for line in steps] == ["OPEN", "CLAIMED", "SUBMITTED"]
    assert "claimed by " + provider.address in steps[1]
    # The status is written once per change, not once per poll (about 10 a second).
    status = [line for line in lines[:-1] if line.startswith(f"job {job_id} ")]
    assert status[0].startswith(f"job {job_id} OPEN · waiting on any registered provider")
    assert 2 <= len(status) <= 3 and len(set(status)) == len(status)
    assert lines[-1].startswith(
        f"job {job_id} is SUBMITTED; waiting on the requester to accept the result"
    )


def test_wait_until_a_state_and_as_json(cli, post, provider):
    job_id = post()
    with Background((0.3, lambda: provider.claim(job_id))):
        final = as_json(cli("wait", str(job_id), "--until", "claimed", "--json"))
    assert final["state"] == "CLAIMED"
    assert final["provider"] == provider.address


def test_results_and_accept_from_the_command_line(cli, post, provider, chain, workdir):
    job_id = post()
    provider.deliver(job_id, workdir / "work", {"answer.txt": b"42\n"})

    text = ok(cli("results", str(job_id)))
    target = workdir / f"job-{job_id}-result"
    assert (target / "outputs" / "answer.txt").read_bytes() == b"42\n"
    assert f"result of job {job_id}: succeeded, exit code 0" in text
    assert "outputs/answer.txt  3 bytes  sha256 " in text

    accepted = as_json(cli("accept", str(job_id), "--json"))
    assert accepted["state"] == "ACCEPTED"


def test_results_as_json_carry_the_verified_manifest(cli, post, provider, tmp_path):
    job_id = post()
    provider.deliver(job_id, tmp_path / "work", {"n": b"7"})
    report = as_json(cli("results", str(job_id), str(tmp_path / "out"), "--json"))
    assert report["verified"] is True
    assert report["manifest"]["job_id"] == job_id
    assert [f["path"] for f in report["manifest"]["outputs"]] == ["n"]


def test_a_tampered_result_fails_verification_and_leaves_nothing(cli, post, provider, tmp_path):
    job_id = post()
    provider.claim(job_id)
    result = provider.result_dir(job_id, tmp_path / "work", {"answer.txt": b"42\n"})
    (result / "outputs" / "answer.txt").write_bytes(b"41\n")
    provider.submit(job_id, result)

    outcome = cli("results", str(job_id), str(tmp_path / "out"))
    assert outcome.exit_code == 4
    assert outcome.stderr.startswith("error: result bafybei")  # named by its CID: not kept
    assert "does not match its manifest: outputs/answer.txt has sha256" in outcome.stderr
    assert f"dispute it (`requester dispute {job_id}`); nothing was written" in outcome.stderr
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # no temporary leftovers


def test_jobs_providers_and_estimate_as_json(cli, post, provider):
    job_id = post()
    settled = post()
    ok(cli("cancel", str(settled)))
    listed = as_json(cli("jobs", "--json"))
    by_id = {job["job_id"]: job for job in listed}
    assert {job_id, settled} <= set(by_id)
    assert by_id[job_id]["spec_cid"].startswith("bafkrei")
    assert by_id[settled]["terminal"] is True
    active = [job["job_id"] for job in as_json(cli("jobs", "--active", "--json"))]
    assert job_id in active and settled not in active  # non-empty, and the filter filters

    providers = as_json(cli("providers", "--json"))
    mine = next(p for p in providers if p["address"] == provider.address)
    assert mine["registered"] and mine["capabilities"]["accepted_images"] == ["jobmarket/*"]

    estimate = as_json(
        cli("estimate", "--image", IMAGE, "--cmd", "true", "--price", "0.02", "--json")
    )
    assert estimate["terms"]["price_wei"] == str(2 * 10**16)
    assert estimate["post_gas_estimated"] is True
    assert int(estimate["expected_total_wei"]) > 2 * 10**16
    assert {"address": provider.address, "accepts": True, "refusals": []} in estimate["providers"]


def test_jobs_and_providers_as_text(cli, post, provider):
    job_id = post()
    table = ok(cli("jobs"))
    assert table.splitlines()[0].split() == [
        "job", "state", "result", "name", "price", "provider", "waiting", "on"
    ]  # fmt: skip
    assert any(line.split()[:2] == [str(job_id), "OPEN"] for line in table.splitlines())
    providers = ok(cli("providers"))
    assert provider.address in providers and "images jobmarket/*" in providers


def test_watch_as_json_lines(cli, post, provider):
    job_id = post()
    with Background((0.5, lambda: provider.claim(job_id))):
        result = cli("watch", "--timeout", "2s", "--json")
    events = [json.loads(line) for line in ok(result).splitlines()]
    claimed = [e for e in events if e["job_id"] == job_id and e["event"] == "JobClaimed"]
    assert len(claimed) == 1 and claimed[0]["state"] == "CLAIMED"
    assert claimed[0]["sender"] == provider.address


def test_the_live_view_redraws_on_a_terminal_and_stays_plain_otherwise(requester, post, provider):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    job = requester.job(post())
    for stream, live in ((Terminal(), True), (io.StringIO(), False)):
        progress = JobProgress(stream, live=live)
        job.wait(until=lambda status: True, on_step=progress.on_step, on_tick=progress.on_tick)
        progress.close()
        text = stream.getvalue()
        assert "OPEN       posted for 0.01 ETH" in text
        if live:
            assert "\r\x1b[2K" in text and "OPEN · waiting on any registered provider" in text
            assert "\x1b[2K⠙ 0s · job" in text
        else:
            assert "\x1b" not in text and "0s ·" not in text
            assert "waiting on any registered provider to claim it until" in text
    assert job.view().state is JobState.OPEN


def test_the_account_comes_from_the_option_or_the_environment(cli, post, provider):
    job_id = post()
    assert job_id in [job["job_id"] for job in as_json(cli("jobs", "--json"))]
    assert as_json(cli("jobs", "--json", "--account", "TEST::5")) == []
    assert as_json(cli("jobs", "--json", env={"JOBMARKET_ACCOUNT": "TEST::5"})) == []


def test_wait_stops_on_a_job_nobody_can_move_any_more(cli, post, provider, chain):
    job_id = post(claim_within="1m")
    chain.increase_time(90)
    result = cli("wait", str(job_id))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: job {job_id} is stuck OPEN: nobody claimed it before its claim deadline ("
    )
    assert f"`requester reclaim {job_id}` returns the price to you" in result.stderr
    assert "posted for 0.01 ETH" in result.stdout  # the steps so far were shown first


def test_an_ape_keyfile_account_is_unlocked_only_to_sign(cli, provider, chain, tmp_path):
    key = Account.create()
    folder = tmp_path / "ape" / "accounts"
    folder.mkdir(parents=True)
    (folder / "alice.json").write_text(json.dumps(Account.encrypt(key.key, "s3cret")))
    chain.set_balance(key.address, 10**18)
    env = {"APE_DATA_FOLDER": str(tmp_path / "ape")}

    # Reading needs only the address: no passphrase asked.
    assert as_json(cli("jobs", "--account", "alice", "--json", env=env)) == []
    locked = cli(*POST, "--account", "alice", env=env)
    assert locked.exit_code == 1
    assert locked.stderr == (
        "error: account 'alice' is locked and no passphrase was given; "
        "set APE_ACCOUNTS_alice_PASSPHRASE\n"
    )
    assert chain.nonce(key.address) == 0
    posted = as_json(
        cli(*POST, "--account", "alice", "--json",
            env={**env, "APE_ACCOUNTS_alice_PASSPHRASE": "s3cret"})
    )  # fmt: skip
    assert posted["status"]["requester"] == key.address
