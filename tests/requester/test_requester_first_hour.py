"""A new user's first hour (issue 13): each test replays what a user saw and checks what they
should see instead. Real anvil, real embedded store; the provider is driven by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from requester_support import IMAGE, PROVIDER

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState

REPO = Path(__file__).resolve().parents[2]
ME = dev_account(0).address


def _json(result) -> dict:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


# -- item 1: matching before money ------------------------------------------------------------


def test_post_of_an_image_no_provider_accepts_sends_nothing(cli, provider, chain):
    before = chain.nonce(ME)
    result = cli("post", "--image", "alpine:3.20", "--cmd", "true", "--price", "0.01")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: none of the 1 registered provider(s) would take this job (")
    assert f"{provider.address} would decline: image: alpine:3.20 matches none" in line
    assert "pass --anyway to post it regardless; nothing was sent" in line
    assert chain.nonce(ME) == before  # no transaction

    estimate = cli("estimate", "--image", "alpine:3.20", "--cmd", "true", "--price", "0.01")
    assert f"{provider.address}  would decline: image: alpine:3.20" in estimate.stdout
    assert "providers that would take it: 0 of 1" in estimate.stdout

    posted = _json(cli("post", "--image", "alpine:3.20", "--cmd", "true", "--price", "0.01",
                       "--anyway", "--json"))  # fmt: skip
    assert posted["status"]["state"] == "OPEN" and chain.nonce(ME) == before + 1


def test_an_image_the_provider_does_not_hold_is_declined_before_paying(cli, provider, chain, store):
    """The document lists the images held (with ids): a missing one, or a digest a local build
    cannot have, is refused by the same rule the node declines with."""
    from requester_support import CAPABILITIES

    from jobmarket.spec.capabilities import HeldImage

    local_id = "sha256:" + "4f" * 32
    provider.register(
        CAPABILITIES.model_copy(update={"images": [HeldImage(tags=[IMAGE], id=local_id)]})
    )
    before = chain.nonce(ME)
    missing = cli("post", "--image", "jobmarket/other:2", "--cmd", "true", "--price", "0.01")
    assert missing.exit_code == 1
    assert "image: jobmarket/other:2 is not on this node and pulling is disabled (it holds " in (
        missing.stderr
    )
    pinned = cli("post", "--image", f"jobmarket/busybox@{local_id}", "--cmd", "true",
                 "--price", "0.01")  # fmt: skip
    assert pinned.exit_code == 1
    assert "holds jobmarket/busybox:1 as a local build with no registry digest; name it by " in (
        pinned.stderr
    )
    assert chain.nonce(ME) == before
    providers = cli("providers")
    assert f"holds {IMAGE} ({local_id[:19]}…)" in providers.stdout
    assert _json(cli("post", "--image", IMAGE, "--cmd", "true", "--price", "0.01", "--json"))
    provider.register()  # back to the module's document


# -- item 2: reclaim right after the deadline, on an anvil that mines only on transactions ----


def test_reclaim_right_after_the_deadline_succeeds_without_new_blocks(cli, post, provider, chain):
    job_id = post(claim_within="2s")
    latest = chain.client.w3.eth.get_block("latest")
    time.sleep(3)  # wall-clock time passes; anvil mines nothing meanwhile
    assert chain.client.w3.eth.get_block("latest")["number"] == latest["number"]

    result = cli("reclaim", str(job_id))
    assert result.exit_code == 0, result.stderr
    assert f"job {job_id} is EXPIRED" in result.stdout
    assert chain.client.job(job_id).state is JobState.EXPIRED


# -- item 6: the ape script keeps the designated provider -------------------------------------


def test_ape_post_job_designates_the_provider_on_chain(chain, provider):
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.url, "JOBMARKET_HOME": str(chain.home)}
    designated = dev_account(PROVIDER).address
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("ape")), "run", "post_job", "--image", IMAGE,
         "--cmd", "true", "--price", "0.01", "--provider", designated, "--json",
         "--network", "ethereum:local:foundry"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    job_id = json.loads(completed.stdout)["job_id"]
    assert chain.client.job(job_id).designated == designated
    assert "sending post_job transaction 0x" in completed.stderr


# -- item 8: results at a glance; logs without downloading ------------------------------------


def test_jobs_and_status_show_how_the_run_ended_and_logs_print_escaped(
    cli, post, provider, tmp_path
):
    good = post(name="good-run")
    provider.deliver(good, tmp_path / "good", {"x": b"1"})
    bad = post(name="bad-run")
    provider.claim(bad)
    folder = provider.result_dir(
        bad, tmp_path / "bad", {}, status="failed", exit_code=3,
        stderr=b"line 1\nboom \x1b[2J\nlast\n",
    )  # fmt: skip
    provider.submit(bad, folder)

    by_id = {job["job_id"]: job for job in _json(cli("jobs", "--json"))}
    assert (by_id[good]["name"], by_id[good]["result_status"]) == ("good-run", "succeeded")
    assert (by_id[bad]["name"], by_id[bad]["result_status"]) == ("bad-run", "failed (exit 3)")
    table = cli("jobs").stdout
    assert any(f"{bad}  SUBMITTED  failed (exit 3)" in line for line in table.splitlines())
    status = cli("status", str(bad)).stdout
    assert status.startswith(f"job {bad} (bad-run): SUBMITTED")
    assert "— failed (exit 3)" in status

    logs = cli("logs", str(bad), "--stderr", "--tail", "2")
    assert logs.exit_code == 0, logs.stderr
    assert logs.stdout == "boom \\e[2J\nlast\n"  # escaped, the last two lines
    assert cli("logs", str(good)).stdout == "done\n"
    assert not list(Path.cwd().glob("job-*-result"))  # nothing downloaded


# -- item 9: finalize, dispute with a reason, resolve, close-dispute --------------------------


def test_anyone_finalizes_and_the_arbiter_resolves_a_reasoned_dispute(
    cli, post, provider, chain, requester, tmp_path
):
    from requester_support import ARBITER

    unreviewed = post(review_window="20s")
    provider.deliver(unreviewed, tmp_path / "a", {"x": b"1"})
    early = cli("finalize", str(unreviewed), "--account", "TEST::5")
    assert early.exit_code == 1
    assert "review window ends" in early.stderr and chain.nonce(dev_account(5).address) == 0
    assert "until someone finalizes it" not in cli("status", str(unreviewed)).stdout
    chain.increase_time(21)
    done = cli("finalize", str(unreviewed), "--account", "TEST::5")  # anyone
    assert done.exit_code == 0, done.stderr
    assert chain.client.job(unreviewed).state is JobState.ACCEPTED

    disputed = post()
    provider.deliver(disputed, tmp_path / "b", {"x": b"1"})
    reason = "the output is empty; expected 42 lines"
    assert cli("dispute", str(disputed), "--reason", reason).exit_code == 0
    assert requester.job(disputed).dispute_reason() == reason

    not_arbiter = cli("resolve", str(disputed), "--provider-share", "70%")
    assert not_arbiter.exit_code == 1 and "only the market's arbiter" in not_arbiter.stderr
    resolved = cli("resolve", str(disputed), "--provider-share", "70%",
                   "--account", f"TEST::{ARBITER}")  # fmt: skip
    assert resolved.exit_code == 0, resolved.stderr
    assert chain.client.job(disputed).state is JobState.RESOLVED

    silent = post()
    provider.deliver(silent, tmp_path / "c", {"x": b"1"})
    assert cli("dispute", str(silent)).exit_code == 0
    chain.increase_time(3 * 86400 + 1)  # past the arbiter's window
    closed = cli("close-dispute", str(silent), "--account", "TEST::5")
    assert closed.exit_code == 0, closed.stderr
    assert chain.client.job(silent).state is JobState.RESOLVED


# -- item 10: the smaller things -----------------------------------------------------------------


def test_the_smaller_things_a_new_user_tripped_on(cli, post, provider, tmp_path):
    help_text = subprocess.run(
        [sys.executable, "-m", "jobmarket.devnet", "-h"], capture_output=True, text=True,
        timeout=60, cwd=REPO,
    )  # fmt: skip
    assert help_text.returncode == 0 and "--fork-url URL" in help_text.stdout

    job_id = post(review_window="20s")
    provider.deliver(job_id, tmp_path / "w", {"x": b"1"})
    status = cli("status", str(job_id)).stdout
    assert "the requester may accept the result until " in status  # not "any time"
    assert "anyone may finalize it after " in status

    waited = cli("wait", str(job_id), "--wait-timeout", "5s")  # the word `post` uses
    assert waited.exit_code == 0, waited.stderr
    assert f"job {job_id} is SUBMITTED" in waited.stdout
