"""Two provider nodes race for one job on a chain mining a block per second: exactly one claim
wins, the other node logs its loss and carries on with the next job."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from node_world import Market, remove_node_containers, shell_job
from support.node import ProviderNode, register_provider

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState

ANVIL_BLOCK_TIME = 1  # both nodes see the post in the same block and claim in the next one
ACCOUNTS = ("TEST::1", "TEST::2")


@pytest.fixture(scope="module")
def nodes(market: Market, docker_api: docker.DockerClient) -> Iterator[dict[str, ProviderNode]]:
    started = {}
    for account in ACCOUNTS:
        register_provider(market.url, market.home, account=account, stake="1 ether")
        started[account] = ProviderNode(rpc_url=market.url, home=market.home, account=account)
    for node in started.values():
        node.start()
    yield started
    for node in started.values():
        node.stop()
    remove_node_containers(market, docker_api)


def _address(account: str) -> str:
    return dev_account(int(account.split("::")[1])).address


def test_exactly_one_claim_wins_and_the_loser_carries_on(
    market: Market, nodes: dict[str, ProviderNode]
) -> None:
    job_id = market.post(shell_job("echo raced > /out/x"))

    outcomes = {
        account: node.wait_for(
            lambda e, job=job_id: (
                e.get("event") == "step"
                and e.get("job") == str(job)
                and e.get("step") in ("claimed", "lost")
            ),
            timeout=30,
        )
        for account, node in nodes.items()
    }
    [winner] = [account for account, event in outcomes.items() if event["step"] == "claimed"]
    [loser] = [account for account, event in outcomes.items() if event["step"] == "lost"]
    claims = [
        market.w3.eth.get_transaction_receipt(tx["hash"])
        for account in ACCOUNTS
        for tx in market.calls("claim", _address(account), job_id)
    ]
    nodes[winner].wait_for_step(job_id, "submitted", timeout=60)

    assert sum(receipt["status"] == 1 for receipt in claims) == 1
    assert market.job(job_id).provider == _address(winner)
    assert "claimed first" in outcomes[loser]["reason"]

    # The loser goes on serving: the next job is meant for it alone.
    next_job = market.post(shell_job("echo next > /out/x"), designated=_address(loser))
    nodes[loser].wait_for_step(next_job, "submitted", timeout=60)
    declined = nodes[winner].wait_for_step(next_job, "declined", timeout=30)

    assert market.job(next_job).state == JobState.SUBMITTED
    assert market.job(next_job).provider == _address(loser)
    assert declined["reason"] == f"designated to {_address(loser)}"
