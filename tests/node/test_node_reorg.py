"""Reorgs, as anvil makes them (``anvil_reorg``: the last N blocks replaced, given transactions
in the new ones, and no ``removed`` logs): the node re-reads each affected job from the chain
and ends every case correctly.

* a removed accept: the job is ours and submitted again on chain, and the node finalizes it
  after the review window;
* a rival's claim in place of ours while our container runs: the container is stopped and the
  slot freed (the next job is claimed);
* a replaced post (same id, another requester and spec): the node never submits a result for a
  spec it did not check; it decides the new post afresh and its result names the new spec.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from eth_account.signers.local import LocalAccount
from node_world import (
    PROVIDER,
    PROVIDER_ADDRESS,
    REQUESTER,
    Market,
    container_name,
    remove_node_containers,
    shell_job,
)
from support.node import ProviderNode, register_provider
from web3 import Web3

from jobmarket.chain.accounts import test_account as account_number
from jobmarket.chain.client import ZERO_ADDRESS
from jobmarket.chain.states import JobState
from jobmarket.content.cid import RAW, Cid

RIVAL = "TEST::2"
RIVAL_ACCOUNT = account_number(2)
OTHER_REQUESTER = account_number(3)


@pytest.fixture(scope="module")
def node(market: Market, docker_api: docker.DockerClient) -> Iterator[ProviderNode]:
    """One slot, so a slot held by mistake would stop every later claim."""
    register_provider(market.url, market.home, account=RIVAL, stake="1 ether")
    register_provider(market.url, market.home, account=PROVIDER, stake="1 ether")
    provider = ProviderNode(
        rpc_url=market.url, home=market.home, account=PROVIDER, args=["--max-jobs", "1"]
    )
    provider.start()
    yield provider
    provider.stop()
    remove_node_containers(market, docker_api)


def _signed(market: Market, account: LocalAccount, function: str, *args: object,
            value: int = 0) -> str:  # fmt: skip
    """A transaction signed for the replacement blocks (gas fixed: no estimate against the
    branch that is about to disappear)."""
    w3 = market.w3
    call = getattr(market.client.contract.functions, function)(*args)
    tx = call.build_transaction(
        {
            "from": account.address,
            "value": value,
            "gas": 500_000,
            "nonce": w3.eth.get_transaction_count(account.address),
            "maxFeePerGas": 10 * w3.eth.gas_price + 10**9,
            "maxPriorityFeePerGas": 10**9,
            "chainId": w3.eth.chain_id,
        }
    )
    return Web3.to_hex(account.sign_transaction(tx).raw_transaction)


def _reorg(market: Market, first_replaced: int, txs: list[str]) -> None:
    depth = market.w3.eth.block_number - first_replaced + 1
    market.w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_reorg", [depth, [[tx, 0] for tx in txs]]
    )


def _block_of(market: Market, function: str, sender: str, job_id: int) -> int:
    [call] = market.calls(function, sender, job_id)
    return int(call["blockNumber"])


def _wait_chain(market: Market, job_id: int, state: JobState, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while market.job(job_id).state != state:
        assert time.monotonic() < deadline, f"job {job_id} is {market.job(job_id).state.name}"
        time.sleep(0.2)


def test_a_removed_accept_is_finalized_after_the_review_window(
    market: Market, node: ProviderNode
) -> None:
    job_id = market.post(shell_job("echo paid"), review_window=8)
    node.wait_for_step(job_id, "submitted", timeout=60)
    market.accept(job_id)
    node.wait_for_step(job_id, "settled", timeout=30)
    accepted_in = market.w3.eth.block_number

    _reorg(market, accepted_in, [])  # the accept block is replaced by an empty one
    assert market.job(job_id).state == JobState.SUBMITTED

    mark = node.mark()
    node.wait_for_step(job_id, "submitted", since=mark, timeout=30)  # back to submitted
    _wait_chain(market, job_id, JobState.ACCEPTED)  # the settler finalized it when due
    assert len(market.calls("finalize", PROVIDER_ADDRESS, job_id)) == 1
    node.wait_for_step(job_id, "settled", since=mark, timeout=30)


def test_a_rival_claim_while_running_stops_our_container_and_frees_the_slot(
    market: Market, node: ProviderNode, docker_api: docker.DockerClient
) -> None:
    job_id = market.post(shell_job("sleep 120"))
    node.wait_for_step(job_id, "running", timeout=60)
    name = container_name(node, job_id)
    assert docker_api.containers.list(filters={"name": name})
    claimed_in = _block_of(market, "claim", PROVIDER_ADDRESS, job_id)

    _reorg(market, claimed_in, [_signed(market, RIVAL_ACCOUNT, "claim", job_id)])
    assert market.job(job_id).provider == RIVAL_ACCOUNT.address

    node.wait_for_step(job_id, "lost", timeout=30)
    deadline = time.monotonic() + 30
    while docker_api.containers.list(all=True, filters={"name": name}):
        assert time.monotonic() < deadline, "our container still exists"
        time.sleep(0.2)
    # The only slot is free: the next job is claimed and delivered.
    next_job = market.post(shell_job("echo next"))
    node.wait_for_step(next_job, "submitted", timeout=60)
    assert not node.events("step", job=job_id, step="submitted")


def test_a_replaced_post_gets_no_result_for_a_spec_the_node_did_not_check(
    market: Market, node: ProviderNode, tmp_path: Path
) -> None:
    job_id = market.post(shell_job("echo old spec; sleep 120"))
    node.wait_for_step(job_id, "running", timeout=60)
    posted_in = int(market.client.job_event(job_id, "JobPosted").block_number)
    new_spec = shell_job("echo the new spec")
    new_digest = market.publish(new_spec)
    replacement = _signed(
        market,
        OTHER_REQUESTER,
        "post_job",
        new_digest,
        ZERO_ADDRESS,
        market.now() + 600,
        1200,
        3600,
        value=10**16,
    )

    _reorg(market, posted_in, [replacement])
    assert market.job(job_id).requester == OTHER_REQUESTER.address

    _wait_chain(market, job_id, JobState.SUBMITTED)
    manifest = market.fetch(job_id, tmp_path / "result")
    assert str(manifest.spec_cid) == str(Cid.from_digest(new_digest, RAW))
    assert len(market.calls("submit_result", PROVIDER_ADDRESS, job_id)) == 1
    assert REQUESTER.address != OTHER_REQUESTER.address
