"""A provider node on a market that pays in a 6-decimal token (tUSD): it registers with a token
stake (``--stake 500``: register, approve, ``deposit_stake_token``), keeps its price floor in
the token's smallest unit (``--price-floor 1.5`` is 1,500,000), declines cheaper jobs in tUSD
words, runs a job posted with a permit to settlement, and ``status`` shows stake and payout in
tUSD.

Real anvil, real token (contracts/test/TestToken.vy), real Docker node process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner
from node_world import PROVIDER, PROVIDER_ADDRESS, REQUESTER, Market, remove_node_containers
from support.node import ProviderNode, register_provider
from web3 import Web3

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.devtoken import deploy_test_token, token_call
from jobmarket.chain.states import JobState
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import DEFAULT_IMAGE
from jobmarket.spec.capabilities import ProviderCapabilities
from provider_node.cli import main
from requester.api import Requester

TUSD = 10**6


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    """A fresh anvil, a tUSD token (6 decimals, permit) and the market paying in it, recorded
    as the chain's market; 1,000 tUSD minted to the requester and to the provider."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JOBMARKET_HOME", str(home))
        for variable in ("IPFS_API", "JOBMARKET_IPFS_DIR", "JOBMARKET_DEPLOYMENTS",
                         "JOBMARKET_RPC_URL", "JOBMARKET_ACCOUNT", "JOBMARKET_MARKET"):  # fmt: skip
            env.delenv(variable, raising=False)
        with Anvil(log_path=home / "anvil.log") as anvil:
            w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
            deployer = dev_account(0)
            token = deploy_test_token(w3, deployer)
            for account in (REQUESTER.address, PROVIDER_ADDRESS):
                token_call(w3, deployer, token.functions.mint(account, 1_000 * TUSD))
            deployment = deploy_market(
                w3, deployer, arbiter=dev_account(9).address, token=token.address
            )
            client = MarketClient(w3, deployment.address, deployment)
            yield Market(anvil, home, w3, client, EmbeddedStore(home / "ipfs"),
                         deployment.block_number)  # fmt: skip


@pytest.fixture(scope="module")
def registered(market: Market) -> str:
    return register_provider(
        market.url,
        market.home,
        account=PROVIDER,
        stake="500",
        args=["--price-floor", "1.5", "--image", "jobmarket/*"],
    )


@pytest.fixture(scope="module")
def node(
    market: Market, registered: str, docker_api: docker.DockerClient
) -> Iterator[ProviderNode]:
    provider = ProviderNode(rpc_url=market.url, home=market.home, account=PROVIDER)
    provider.start()
    yield provider
    provider.stop()
    remove_node_containers(market, docker_api)


@pytest.fixture(scope="module")
def requester(market: Market) -> Iterator[Requester]:
    with Requester(market.client, store=market.store, account="TEST::0") as me:
        yield me


def _status(market: Market, *extra: str) -> CliRunner:
    runner = CliRunner(mix_stderr=False)
    return runner.invoke(main, ["status", "--rpc-url", market.url, "--account", PROVIDER, *extra])


def test_register_stakes_500_tusd_and_stores_the_floor_in_token_units(
    market: Market, registered: str
) -> None:
    info = market.client.provider_info(PROVIDER_ADDRESS)
    assert info.registered and info.stake == 500 * TUSD
    assert "stake 500 tUSD" in registered
    assert market.client.currency_balance(PROVIDER_ADDRESS) == 500 * TUSD
    event = market.client.events(0, names=["ProviderRegistered"])[-1]
    document = ProviderCapabilities.fetch(market.store, bytes(event.args["capabilities"]))
    assert document.price_floor_wei == 1_500_000  # the market's smallest unit


def test_staking_more_checks_the_token_balance_first(market: Market, registered: str) -> None:
    nonce = market.w3.eth.get_transaction_count(PROVIDER_ADDRESS)
    runner = CliRunner(mix_stderr=False)
    options = ["--rpc-url", market.url, "--account", PROVIDER]

    short = runner.invoke(main, ["stake", "600", *options])
    assert short.exit_code != 0
    [line] = short.stderr.strip().splitlines()
    assert line.startswith("error: ") and "holds 500 tUSD, less than the 600 tUSD to stake" in line
    assert market.w3.eth.get_transaction_count(PROVIDER_ADDRESS) == nonce

    more = runner.invoke(main, ["stake", "100", *options])
    assert more.exit_code == 0, more.stderr
    assert "staked 100 tUSD: stake 600 tUSD, free 600 tUSD" in more.stdout


def test_a_token_job_runs_to_settlement_and_status_shows_the_payout_in_tusd(
    market: Market, node: ProviderNode, requester: Requester, tmp_path: Path
) -> None:
    stake_before = market.client.provider_info(PROVIDER_ADDRESS).stake
    job = requester.post(image=DEFAULT_IMAGE, command="sh -c 'echo paid > /out/x'", price="12.5")
    assert [tx.function for tx in job.transactions] == ["post_job_permit"]
    assert market.client.job(job.id).price == 12_500_000

    node.wait_for_step(job.id, "submitted", timeout=60)
    manifest = job.results(tmp_path / "result")
    job.accept()
    settled = node.wait_for_step(job.id, "settled", timeout=30)

    assert manifest.status == "succeeded"
    assert market.client.job(job.id).state == JobState.ACCEPTED
    assert market.client.provider_info(PROVIDER_ADDRESS).stake == stake_before + 12_500_000
    assert settled["payout"] == "12.5 tUSD"
    text = _status(market).stdout
    assert "earnings    12.5 tUSD credited to the stake" in text
    assert f", pays in tUSD (token {market.client.currency.token})" in text
    assert f"stake       {(stake_before + 12_500_000) / TUSD:g} tUSD" in text
    assert re.search(r"net         12.5 tUSD earned, [0-9.]+ (ETH|gwei) of gas", text), text
    data = json.loads(_status(market, "--json").stdout)
    assert data["earnings"] == "12500000" and data["currency"]["symbol"] == "tUSD"
    assert data["net_earnings"] is None  # tokens and gas are two currencies


def test_a_job_below_the_floor_is_declined_in_tusd(
    market: Market, node: ProviderNode, requester: Requester
) -> None:
    job = requester.post(image=DEFAULT_IMAGE, command="true", price="1", anyway=True)
    declined = node.wait_for_step(job.id, "declined", timeout=30)
    assert declined["reason"] == "price 1 tUSD is below this node's floor 1.5 tUSD"
    assert market.client.job(job.id).state == JobState.OPEN
