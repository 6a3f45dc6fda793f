"""The requester tools on a market that pays in an ERC-20 token: prices typed and shown in the
token (``--price 12.5`` is 12.5 tUSD), a post with an EIP-2612 permit in one transaction, an
approve only when the allowance is short on a token without permit, and one clear line when the
balance is short or the token takes a fee on transfer.

Real anvil, real token contracts (contracts/test/, compiled and deployed by
``jobmarket.chain.devtoken``), real markets deployed for them, the real CLI in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from requester_support import ARBITER, DEPLOYER, IMAGE, OTHER_REQUESTER, POOR, PROVIDER, Chain

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.devtoken import deploy_test_token, token_call
from jobmarket.devnet import deploy_market
from jobmarket.errors import UserError
from jobmarket.spec.capabilities import Hardware, ProviderCapabilities
from jobmarket.spec.job import Resources
from requester.api import Requester
from requester.estimate import TYPICAL_GAS
from requester.signer import KeySigner

REPO = Path(__file__).resolve().parents[2]
TUSD = 10**6  # one tUSD in the token's smallest unit (6 decimals)
ME = dev_account(0)
POST = ("post", "--image", IMAGE, "--cmd", "sh -c 'echo hi > /out/hello'")

#: A provider pricing in the market's token: the floor is 1 tUSD, in the token's smallest unit.
TOKEN_CAPABILITIES = ProviderCapabilities(
    node_version="test-driver",
    hardware=Hardware(cpus=2, memory_mb=2048),
    max_resources=Resources(cpu=2, memory_mb=1024, disk_mb=2048),
    max_timeout_s=3600,
    price_floor_wei=1 * TUSD,
    accepted_images=["jobmarket/*"],
)


@dataclass
class TokenMarket:
    client: MarketClient
    token: object  # web3 Contract

    @property
    def address(self) -> str:
        return self.client.address

    def balance(self, account: str) -> int:
        return self.client.currency_balance(account)


def _token_market(chain: Chain, store, kind: str, *, fee_bps: int = 0) -> TokenMarket:
    """A fresh token of ``kind``, a market paying in it, 1,000 tUSD for the requester and the
    provider, and the provider registered with a 500 tUSD stake."""
    w3 = chain.client.w3
    deployer, provider = dev_account(DEPLOYER), dev_account(PROVIDER)
    token = deploy_test_token(w3, deployer, kind=kind)
    for account in (ME, provider, dev_account(OTHER_REQUESTER)):
        token_call(w3, deployer, token.functions.mint(account.address, 1_000 * TUSD))
    deployment = deploy_market(
        w3,
        deployer,
        arbiter=dev_account(ARBITER).address,
        token=token.address,
        record=False,
    )
    client = MarketClient(w3, deployment.address, deployment)
    client.transact(provider, "register", TOKEN_CAPABILITIES.publish(store).digest)
    token_call(w3, provider, token.functions.approve(client.address, 500 * TUSD))
    client.transact(provider, "deposit_stake_token", 500 * TUSD)
    if fee_bps:  # set after the stake went in: the market refuses such a token at post
        token_call(w3, deployer, token.functions.set_fee_bps(fee_bps))
    return TokenMarket(client, token)


@pytest.fixture(scope="module")
def permit_market(chain, store) -> TokenMarket:
    return _token_market(chain, store, "permit")


@pytest.fixture(scope="module")
def plain_market(chain, store) -> TokenMarket:
    """A USDT-style token: no boolean returned, no permit."""
    return _token_market(chain, store, "no-return")


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def test_a_price_of_12_5_on_a_6_decimal_permit_market_escrows_12_500_000_units_in_one_tx(
    cli, chain, permit_market
):
    market = permit_market.address
    before = permit_market.balance(ME.address)
    nonce = chain.nonce(ME.address)

    text = ok(cli(*POST, "--price", "12.5", "--market", market))

    assert "post_job_permit mined in block" in text and "12.5 tUSD escrowed" in text
    assert "approve" not in text
    assert chain.nonce(ME.address) == nonce + 1  # one signature, one transaction
    job_id = int(text.split()[2])
    assert permit_market.client.job(job_id).price == 12_500_000
    assert permit_market.balance(ME.address) == before - 12_500_000
    status = ok(cli("status", str(job_id), "--market", market))
    assert "price:           12.5 tUSD (provider collateral 1.25 tUSD" in status
    assert "posted for 12.5 tUSD" in status
    assert "costs so far: escrowed 12.5 tUSD, refunded 0 tUSD" in status
    document = json.loads(ok(cli("status", str(job_id), "--market", market, "--json")))
    assert document["price_units"] == "12500000" and document["price"] == "12.5 tUSD"


def test_estimate_and_jobs_speak_in_the_token(cli, permit_market):
    market = permit_market.address
    text = ok(
        cli("estimate", "--price", "12.5", "--image", IMAGE, "--cmd", "true", "--market", market)
    )
    token = permit_market.token.address
    assert text.startswith(  # the symbol is the token's own claim: its address says which
        "price:         12.5 tUSD (escrowed at post; provider collateral 1.25 tUSD; "
        f"tUSD is the token {token})"
    )
    assert "post_job_permit gas: " in text and "(estimated)" in text
    assert "expected total: 12.5 tUSD + " in text and "balance " in text and "tUSD and" in text
    assert "would take it" in text
    cheap = ok(
        cli("estimate", "--price", "0.5", "--image", IMAGE, "--cmd", "true", "--market", market)
    )
    assert "price: 0.5 tUSD is below the floor of 1 tUSD" in cheap
    listing = ok(cli("providers", "--market", market))
    assert "500 tUSD" in listing and "floor 1 tUSD" in listing


def test_a_token_without_permit_is_approved_once_then_posted_and_not_again_when_allowed(
    cli, chain, plain_market
):
    market, client = plain_market.address, plain_market.client
    assert client.allowance(ME.address) == 0
    first = json.loads(ok(cli(*POST, "--price", "7", "--market", market, "--json")))
    assert [tx["function"] for tx in first["transactions"]] == ["approve", "post_job_token"]
    assert client.job(first["job_id"]).price == 7 * TUSD
    assert client.allowance(ME.address) == 0  # the approve was for this price only

    token_call(client.w3, ME, plain_market.token.functions.approve(market, 100 * TUSD))
    nonce = chain.nonce(ME.address)
    second = json.loads(ok(cli(*POST, "--price", "7", "--market", market, "--json")))
    assert [tx["function"] for tx in second["transactions"]] == ["post_job_token"]
    assert chain.nonce(ME.address) == nonce + 1
    assert client.allowance(ME.address) == 93 * TUSD

    gas = {tx["function"]: tx["gas_used"] for tx in first["transactions"]}
    for function in ("approve", "post_job_token"):
        assert abs(TYPICAL_GAS[function] - gas[function]) <= TYPICAL_GAS[function] // 10, gas


def test_a_short_token_balance_is_one_line_and_nothing_is_sent(cli, chain, permit_market):
    poor = dev_account(POOR)
    w3 = chain.client.w3
    token_call(
        w3, dev_account(DEPLOYER), permit_market.token.functions.mint(poor.address, 3 * TUSD)
    )
    nonce = chain.nonce(poor.address)

    result = cli(
        *POST, "--price", "12.5", "--market", permit_market.address, "--account", "TEST::3"
    )

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert result.stderr.startswith(
        "error: your balance is 3 tUSD, the job needs 12.5 tUSD + gas in ETH"
    )
    assert chain.nonce(poor.address) == nonce
    assert permit_market.balance(poor.address) == 3 * TUSD


def test_a_fee_on_transfer_token_is_refused_in_one_line_before_anything_is_sent(cli, chain, store):
    fee_market = _token_market(chain, store, "permit", fee_bps=100)
    nonce = chain.nonce(ME.address)
    for verb in (POST, ("estimate", "--image", IMAGE, "--cmd", "true")):
        result = cli(*verb, "--price", "12.5", "--market", fee_market.address)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert "token fee on transfer" in result.stderr
        assert "the market would receive less than the price" in result.stderr
    assert chain.nonce(ME.address) == nonce
    assert fee_market.client.job_count() == 0


class TransactionOnlySigner:
    """A signer that signs transactions but no typed data (as some wallets do): the post goes
    by approve + post_job_token, never by a permit."""

    def __init__(self, account) -> None:
        self._signer = KeySigner(account)
        self.address = self._signer.address

    def sign(self, tx):
        return self._signer.sign(tx)


def test_a_fee_on_transfer_token_costs_no_approve_when_the_post_must_approve_first(chain, store):
    fee_market = _token_market(chain, store, "permit", fee_bps=100)
    nonce = chain.nonce(ME.address)
    requester = Requester(fee_market.client, TransactionOnlySigner(ME), store)

    with pytest.raises(UserError) as refused:
        requester.post(image=IMAGE, command="true", price="12.5", anyway=True)
    with pytest.raises(UserError) as estimated:
        requester.estimate(image=IMAGE, command="true", price="12.5")

    assert "token fee on transfer" in refused.value.problem
    assert "token fee on transfer" in estimated.value.problem
    assert chain.nonce(ME.address) == nonce  # the approve and the post simulated, not sent
    assert fee_market.client.allowance(ME.address) == 0
    assert fee_market.client.job_count() == 0


def test_a_price_finer_than_the_token_is_refused_with_its_decimals(cli, permit_market):
    result = cli(*POST, "--price", "1.0000001", "--market", permit_market.address)
    assert result.exit_code == 2
    assert "has more decimals than tUSD (6)" in result.stderr


def test_the_ape_post_job_script_posts_with_a_permit_signed_by_the_ape_account(
    chain, permit_market
):
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.url, "JOBMARKET_HOME": str(chain.home)}
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("ape")), "run", "post_job", "--image", IMAGE,
         "--cmd", "true", "--price", "2.5", "--market", permit_market.address, "--json",
         "--network", "ethereum:local:foundry"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    posted = json.loads(completed.stdout)
    assert [tx["function"] for tx in posted["transactions"]] == ["post_job_permit"]
    assert posted["transactions"][0]["escrowed_units"] == "2500000"
    assert permit_market.client.job(posted["job_id"]).price == 2_500_000
    assert posted["status"]["price"] == "2.5 tUSD"
