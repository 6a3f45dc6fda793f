"""Every bad input is one line saying what is wrong and what to do, a non-zero exit, and no
transaction (the account's nonce does not move)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from requester_support import DEPLOYER, IMAGE, POOR

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState
from jobmarket.errors import InvalidInput
from requester.api import Requester

ME = dev_account(0).address
POST = ("post", "--image", IMAGE, "--cmd", "sh -c 'echo hi > /out/x'")


@pytest.fixture
def no_transaction(chain):
    """Asserts, after the test, that TEST::0 sent nothing."""
    before = chain.nonce(ME)
    yield
    assert chain.nonce(ME) == before, "a transaction was sent"


def refused(result, exit_code: int, *fragments: str) -> str:
    """The single error line of a failed command, checked for ``fragments``."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "; " in line, f"no advice in {line!r}"
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert "Traceback" not in result.stderr
    return line


@pytest.mark.parametrize(
    ("price", "fragment"),
    [
        ("0", "the price is zero"),
        ("-1", "the price '-1' is negative"),
        ("abc", "cannot read the price 'abc'"),
        ("0.01 bananas", "cannot read the price '0.01 bananas'"),
        ("1.5 wei", "is a fraction of a wei"),
        ("1500000001 wei", "is not a whole number of gwei"),
    ],
)
def test_a_bad_price_is_refused(cli, provider, no_transaction, price, fragment):
    refused(cli(*POST, "--price", price), 2, fragment)


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("0x123", "is not an Ethereum address"),
        ("provider-one", "is not an Ethereum address"),
        # A valid address with one letter's case flipped: a typo the checksum catches.
        ("0x70997970c51812dc3A010C7d01b50e0d17dc79C8", "has a wrong checksum"),
    ],
)
def test_a_malformed_provider_address_is_refused(cli, no_transaction, address, fragment):
    refused(cli(*POST, "--price", "0.01", "--provider", address), 2, fragment)


def test_an_unregistered_provider_is_refused(cli, provider, no_transaction):
    stranger = dev_account(7).address
    refused(
        cli(*POST, "--price", "0.01", "--provider", stranger),
        1,
        f"{stranger} is not a registered provider",
        "requester providers",
    )


def test_a_provider_that_would_not_take_the_job_is_refused(cli, provider, no_transaction):
    line = refused(
        cli(*POST, "--price", "0.01", "--memory-mb", "4096", "--provider", provider.address),
        1,
        f"provider {provider.address} would not take this job",
    )
    assert "resources.memory_mb: 4096 exceeds this node's maximum of 1024" in line


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("data=bafyNOTACID", "the input CID 'bafyNOTACID' is malformed"),
        ("data=Qm123", "the input CID 'Qm123' is malformed"),
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "write NAME=CID"),
    ],
)
def test_a_malformed_input_cid_is_refused(cli, no_transaction, value, fragment):
    refused(cli(*POST, "--price", "0.01", "--input-cid", value), 2, fragment)


def test_an_input_cid_missing_from_the_store_is_refused(cli, provider, no_transaction):
    absent = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    refused(
        cli(*POST, "--price", "0.01", "--input-cid", f"data={absent}"),
        1,
        f"input /in/data ({absent}) is not in the content store",
        "requester store add",
    )


def test_a_missing_input_file_is_refused(cli, no_transaction, tmp_path):
    refused(
        cli(*POST, "--price", "0.01", "--input", str(tmp_path / "nope.csv")), 2, "does not exist"
    )


def test_an_invalid_spec_is_refused_with_the_field_named(cli, no_transaction):
    result = cli("post", "--image", "Not An Image!", "--cmd", "true", "--price", "0.01")
    refused(result, 2, "image: must be a Docker image reference")


def test_a_work_timeout_shorter_than_the_run_time_is_refused(cli, no_transaction):
    result = cli(*POST, "--price", "0.01", "--timeout", "30m", "--work-timeout", "10m")
    refused(result, 2, "the work timeout 10m is shorter than the job's run-time limit 30m")


@pytest.mark.parametrize("window", ["claim_within", "work_timeout", "review_window"])
def test_a_zero_window_is_refused_not_replaced_by_the_default(requester, no_transaction, window):
    with pytest.raises(InvalidInput, match="must be longer than zero"):
        requester.post(image=IMAGE, command="true", price="0.01", **{window: 0})


@pytest.mark.parametrize("job_id", ["abc", "1e3", "1.5"])
def test_a_malformed_job_id_is_refused(cli, chain, no_transaction, job_id):
    refused(cli("status", job_id), 2, f"the job id '{job_id}' is not a number")


@pytest.mark.parametrize("verb", ["status", "cancel", "accept", "results", "wait"])
def test_an_unknown_job_is_refused(cli, chain, no_transaction, verb):
    refused(cli(verb, "99999"), 1, "job 99999 does not exist on this market", "requester jobs")


def test_an_action_in_the_wrong_state_names_the_state_and_who_acts_next(cli, post, chain):
    job_id = post()
    before = chain.nonce(ME)
    line = refused(cli("accept", str(job_id)), 1, f"cannot accept job {job_id}: it is OPEN")
    assert "any registered provider may claim it until" in line
    assert "the requester may cancel it any time" in line
    assert chain.nonce(ME) == before


def test_cancel_after_a_claim_says_who_may_act_and_when(cli, post, provider, chain):
    job_id = post()
    provider.claim(job_id)
    before = chain.nonce(ME)
    line = refused(cli("cancel", str(job_id)), 1, f"cannot cancel job {job_id}: it is CLAIMED")
    assert f"the provider {provider.address} may submit a result until" in line
    assert "anyone may reclaim it after" in line
    assert chain.nonce(ME) == before


def test_reclaim_before_the_deadline_is_refused(cli, post, chain):
    job_id = post(claim_within="1h")
    before = chain.nonce(ME)
    line = refused(cli("reclaim", str(job_id)), 1, f"cannot reclaim job {job_id} yet: it is OPEN")
    assert re.search(r"its claim deadline is .* UTC \(in (1h|59m \d+s)\)", line), line
    assert "cancel it instead" in line
    assert chain.nonce(ME) == before


def test_dispute_after_the_review_window_is_refused(cli, post, provider, chain, tmp_path):
    job_id = post(review_window="5m")
    provider.deliver(job_id, tmp_path, {"hello": b"hi\n"})
    chain.increase_time(6 * 60)
    before = chain.nonce(ME)
    refused(
        cli("dispute", str(job_id)),
        1,
        f"cannot dispute job {job_id}: its review window closed",
        "anyone may now finalize it",
    )
    assert chain.nonce(ME) == before


def test_only_the_requester_may_act_on_a_job(cli, post, provider, chain):
    job_id = post()
    other = dev_account(2).address
    before = chain.nonce(other)
    refused(
        cli("cancel", str(job_id), "--account", "TEST::2"),
        1,
        f"cannot cancel job {job_id}: it was posted by {ME}, not by {other}",
    )
    assert chain.nonce(other) == before


def test_insufficient_funds_for_the_price(cli, chain, provider):
    poor = dev_account(POOR).address
    chain.set_balance(poor, 5 * 10**15)  # 0.005 ETH
    before = chain.nonce(poor)
    refused(
        cli(*POST, "--price", "0.01", "--account", f"TEST::{POOR}"),
        1,
        f"insufficient funds for post_job: {poor} holds 0.005 ETH",
        "it needs 0.01 ETH (price)",
    )
    assert chain.nonce(poor) == before


def test_insufficient_funds_for_the_gas(cli, chain, provider):
    poor = dev_account(POOR).address
    chain.set_balance(poor, 10**16)  # exactly the price, nothing for gas
    before = chain.nonce(poor)
    refused(
        cli(*POST, "--price", "0.01", "--account", f"TEST::{POOR}"),
        1,
        "it needs 0.01 ETH (price) + up to",
        "(gas)",
    )
    assert chain.nonce(poor) == before


def test_a_paused_market_refuses_the_post_before_anything_is_sent(cli, chain, provider):
    owner = dev_account(DEPLOYER)
    chain.client.transact(owner, "pause")
    try:
        before = chain.nonce(ME)
        refused(
            cli(*POST, "--price", "0.01"),
            1,
            "post_job was refused by the contract: paused; nothing was sent",
            "the market is paused by its owner",
        )
        assert chain.nonce(ME) == before
    finally:
        chain.client.transact(owner, "unpause")


def test_no_deployment_recorded_for_the_chain(cli, chain, tmp_path, no_transaction):
    empty = tmp_path / "deployments.json"
    empty.write_text('{"version": 1, "deployments": {}}\n')
    result = cli(*POST, "--price", "0.01", env={"JOBMARKET_DEPLOYMENTS": str(empty)})
    refused(result, 1, "no JobMarket deployment recorded for chain 31337", "ape run deploy")


def test_an_unreachable_rpc(cli, no_transaction):
    result = cli("jobs", "--rpc-url", "http://127.0.0.1:9")
    refused(result, 3, "the Ethereum RPC at http://127.0.0.1:9 does not answer")


def test_a_malformed_rpc_url(cli, no_transaction):
    refused(cli("jobs", "--rpc-url", "localhost:8545"), 2, "malformed RPC URL 'localhost:8545'")


def test_an_unreachable_ipfs_api(cli, provider, no_transaction, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    result = cli(
        *POST, "--price", "0.01", "--input", str(data), env={"IPFS_API": "http://127.0.0.1:9"}
    )
    refused(result, 3, "IPFS API at http://127.0.0.1:9", "check that Kubo is running")


def test_test_accounts_are_refused_on_a_public_chain(chain):
    from requester.api import resolve_signer

    with pytest.raises(Exception, match="test account TEST::0 refused on chain 1"):
        resolve_signer("TEST::0", 1)
    with pytest.raises(Exception, match="no account given for chain 1; pass --account"):
        resolve_signer(None, 1)


def test_accept_without_fetch_is_refused_before_posting(cli, no_transaction):
    refused(cli(*POST, "--price", "0.01", "--accept"), 2, "--accept needs --fetch DIR")


def test_fetch_into_an_existing_folder_is_refused_before_posting(cli, no_transaction, tmp_path):
    refused(cli(*POST, "--price", "0.01", "--fetch", str(tmp_path)), 2, "already exists")


def test_results_of_a_job_without_a_result(cli, post, workdir):
    job_id = post()
    refused(cli("results", str(job_id)), 1, f"job {job_id} has no result: it is OPEN")
    assert not list(workdir.iterdir())


def test_the_api_raises_the_same_errors(requester: Requester, post, provider, chain):
    job_id = post()
    job = requester.job(job_id)
    assert job.status().state is JobState.OPEN
    with pytest.raises(Exception, match=f"cannot accept job {job_id}: it is OPEN"):
        job.accept()


def run_requester(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed CLI as a user runs it (a subprocess: nothing caught by a test runner)."""
    return subprocess.run(
        [sys.executable, "-m", "requester", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("status", "²"), "the job id '²' is not a number"),
        (("status", "9" * 80), "(80 digits) is larger than any job id"),
        (("accept", "2" + "0" * 77), "(78 digits) is larger than any job id"),  # > 2**256
        (("jobs", "--account", "TEST::1099511627776"), "the index is above 2147483647"),
        ((*POST, "--price", "0.01", "--account", "TEST::1099511627776"), "does not exist"),
    ],
)
def test_what_used_to_be_a_traceback_is_one_error_line(chain, no_transaction, args, fragment):
    completed = run_requester(*args)

    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "; " in lines[0], lines
    assert fragment in lines[0]
