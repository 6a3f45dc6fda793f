"""The requester tools against a market whose token is hostile (contracts/test/HostileToken.vy):
metadata that is control characters, 10 KB, invalid UTF-8, a bytes32 or a revert; decimals that
change after deployment; a permit that reverts or is checked against another EIP-712 domain; an
``approve`` that refuses to change a non-zero allowance (as USDT does); a ``balanceOf`` that
lies. Every tool prints something sane or one ``error:`` line, and no honest requester pays gas
for a post the contract refuses.

Real anvil, a real market per test deployed for a real (hostile) token contract, the real CLI
in-process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from eth_abi import encode as abi_encode
from requester_support import ARBITER, DEPLOYER, IMAGE, PROVIDER, Chain
from test_requester_token import TOKEN_CAPABILITIES

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.devtoken import compiled, token_call
from jobmarket.chain.token import domain_separator
from jobmarket.devnet import deploy_market

HUSD = 10**6  # one hUSD in a 6-decimal hostile token's smallest unit
ME = dev_account(0)
POST = ("post", "--image", IMAGE, "--cmd", "sh -c 'echo hi > /out/hello'")


@dataclass
class HostileMarket:
    client: MarketClient
    token: object  # web3 Contract of HostileToken

    @property
    def address(self) -> str:
        return self.client.address

    def configure(self, call) -> None:
        token_call(self.client.w3, dev_account(DEPLOYER), call)

    def answer(self, function: str, raw: bytes) -> None:
        """Make ``function()`` (name, symbol, decimals) answer ``raw`` bytes from now on."""
        self.configure(self.token.functions.set_answer(function, raw))


def hostile_market(chain: Chain, store, *, decimals: int = 6) -> HostileMarket:
    """A fresh hostile token (well-behaved until configured), a market paying in it, 1,000
    tokens for the requester and the provider, the provider registered with a 500 stake."""
    w3 = chain.client.w3
    deployer, provider = dev_account(DEPLOYER), dev_account(PROVIDER)
    code = compiled("HostileToken")
    factory = w3.eth.contract(abi=code["abi"], bytecode=code["bytecode"])
    receipt = token_call(w3, deployer, factory.constructor("Hostile USD", "hUSD", decimals))
    token = w3.eth.contract(address=receipt["contractAddress"], abi=code["abi"])
    one = 10**decimals
    for account in (ME, provider):
        token_call(w3, deployer, token.functions.mint(account.address, 1_000 * one))
    deployment = deploy_market(
        w3, deployer, arbiter=dev_account(ARBITER).address, token=token.address, record=False
    )
    client = MarketClient(w3, deployment.address, deployment)
    floor = TOKEN_CAPABILITIES.model_copy(update={"price_floor_wei": one})
    client.transact(provider, "register", floor.publish(store).digest)
    token_call(w3, provider, token.functions.approve(client.address, 500 * one))
    client.transact(provider, "deposit_stake_token", 500 * one)
    return HostileMarket(client, token)


def one_error_line(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def sane(text: str) -> None:
    """Output a terminal can show: no control characters but newlines, no flood."""
    assert all(ch == "\n" or ch.isprintable() for ch in text), repr(text[:400])
    assert len(text) < 4000, len(text)


def string_answer(raw: bytes) -> bytes:
    """The ABI encoding of a string whose bytes are ``raw`` (need not be UTF-8)."""
    padded = raw + b"\0" * (-len(raw) % 32)
    return abi_encode(["uint256", "uint256"], [32, len(raw)]) + padded


SYMBOLS = {
    "control characters": string_answer(b"\x1b[31mUSD\x1b[0m\r\n\x07"),
    "10 KB": string_answer(b"U" * 10_240),
    "invalid UTF-8": string_answer(b"\xff\xfeUSD\xc3"),
    "a bytes32": b"USDT".ljust(32, b"\0"),
    "nothing": b"",
}


def test_hostile_symbols_are_shown_as_one_short_visible_word_by_every_tool(cli, chain, store):
    market = hostile_market(chain, store)
    address = market.address
    posted = json.loads(ok(cli(*POST, "--price", "2", "--market", address, "--json")))
    for what, raw in SYMBOLS.items():
        market.answer("symbol", raw)
        for verb in (
            ("estimate", "--price", "2", "--image", IMAGE, "--cmd", "true"),
            ("status", str(posted["job_id"])),
            ("jobs",),
            ("providers",),
            (*POST, "--price", "1.5"),
        ):
            text = ok(cli(*verb, "--market", address))
            sane(text)
            assert "\x1b" not in text and "UUUUUUUUUUUUUUUUU" not in text, (what, verb)
    market.configure(market.token.functions.set_reverts("symbol", True))
    text = ok(cli("status", str(posted["job_id"]), "--market", address))
    assert "price:           2 tokens" in text


@pytest.mark.parametrize("decimals", [0, 18])
def test_a_market_in_a_token_of_0_or_18_decimals_posts_and_shows_whole_tokens(
    cli, chain, store, decimals
):
    market = hostile_market(chain, store, decimals=decimals)
    posted = json.loads(ok(cli(*POST, "--price", "3", "--market", market.address, "--json")))
    assert market.client.job(posted["job_id"]).price == 3 * 10**decimals
    assert posted["status"]["price"] == "3 hUSD"
    if decimals == 0:
        refused = one_error_line(cli(*POST, "--price", "1.5", "--market", market.address), 2)
        assert "has more decimals than hUSD (0)" in refused


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        pytest.param(abi_encode(["uint8"], [255]), "255 decimals", id="255"),
        pytest.param(abi_encode(["uint256"], [2**255]), "2**255 decimals", id="2**255"),
        pytest.param(b"\x06", "one byte", id="one byte"),
        pytest.param(None, "a revert", id="revert"),
    ],
)
def test_decimals_changed_or_broken_after_deployment_is_one_line_and_nothing_sent(
    cli, chain, store, answer, why
):
    market = hostile_market(chain, store)
    posted = json.loads(ok(cli(*POST, "--price", "2", "--market", market.address, "--json")))
    if answer is None:
        market.configure(market.token.functions.set_reverts("decimals", True))
    else:
        market.answer("decimals", answer)
    nonce = chain.nonce(ME.address)
    for verb in (
        (*POST, "--price", "2"),
        ("estimate", "--price", "2", "--image", IMAGE, "--cmd", "true"),
        ("status", str(posted["job_id"])),
        ("jobs",),
    ):
        line = one_error_line(cli(*verb, "--market", market.address))
        assert "decimals" in line, (why, line)
    assert chain.nonce(ME.address) == nonce


@pytest.mark.parametrize("failure", ["permit reverts", "another domain", "name reverts"])
def test_a_permit_that_cannot_work_falls_back_to_approve_and_post_without_a_reverted_tx(
    cli, chain, store, failure
):
    market = hostile_market(chain, store)
    token = market.token.functions
    if failure == "permit reverts":
        market.configure(token.set_permit_reverts(True))
    elif failure == "another domain":
        market.configure(token.set_domain(b"\x42" * 32))
    else:
        market.configure(token.set_reverts("name", True))
    nonce = chain.nonce(ME.address)

    estimate = ok(
        cli(
            "estimate",
            "--price",
            "2",
            "--image",
            IMAGE,
            "--cmd",
            "true",
            "--market",
            market.address,
        )
    )
    assert "approve + post" in estimate, estimate
    posted = json.loads(ok(cli(*POST, "--price", "2", "--market", market.address, "--json")))

    assert [tx["function"] for tx in posted["transactions"]] == ["approve", "post_job_token"]
    assert chain.nonce(ME.address) == nonce + 2
    assert market.client.job(posted["job_id"]).price == 2 * HUSD


def test_a_permit_with_domain_version_2_as_usdc_has_is_signed_for_that_domain(cli, chain, store):
    market = hostile_market(chain, store)
    token = market.token.address
    version_2 = domain_separator("Hostile USD", chain.client.chain_id, token, version="2")
    market.configure(market.token.functions.set_domain(version_2))
    nonce = chain.nonce(ME.address)

    posted = json.loads(ok(cli(*POST, "--price", "2", "--market", market.address, "--json")))

    assert [tx["function"] for tx in posted["transactions"]] == ["post_job_permit"]
    assert chain.nonce(ME.address) == nonce + 1


def test_a_usdt_style_approve_after_a_leftover_allowance_resets_it_to_zero_first(cli, chain, store):
    market = hostile_market(chain, store)
    token = market.token.functions
    market.configure(token.set_domain(b"\0" * 32))  # no permit: the post needs an approve
    market.configure(token.set_usdt_approve(True))
    token_call(chain.client.w3, ME, token.approve(market.address, 1 * HUSD))  # a leftover

    posted = json.loads(ok(cli(*POST, "--price", "2", "--market", market.address, "--json")))

    functions = [tx["function"] for tx in posted["transactions"]]
    assert functions == ["approve", "approve", "post_job_token"]
    assert market.client.job(posted["job_id"]).price == 2 * HUSD
    assert market.client.allowance(ME.address) == 0


@pytest.mark.parametrize("permit", [True, False], ids=["with permit", "approve path"])
def test_a_balance_that_lies_is_refused_in_one_line_before_anything_is_sent(
    cli, chain, store, permit
):
    """balanceOf says a million; the account holds nothing. On the approve path the approve
    used to be mined (gas paid) before the post was refused."""
    market = hostile_market(chain, store)
    if not permit:
        market.configure(market.token.functions.set_domain(b"\0" * 32))
    poor = dev_account(3)
    market.configure(market.token.functions.set_balance_lie(10**6 * HUSD))
    nonce = chain.nonce(poor.address)

    line = one_error_line(
        cli(*POST, "--price", "2", "--market", market.address, "--account", "TEST::3")
    )

    assert "the token refuses to move 2 hUSD from your account although its balanceOf" in line
    assert chain.nonce(poor.address) == nonce
    assert market.client.job_count() == 0


@pytest.mark.parametrize(
    "price",
    ["0.0000001", "1.0000001", "-1", "-0", "1e3", "1E-7", "1e999999999", "NaN", "Infinity",
     "1_000", "0x10", pytest.param("9" * 5000, id="5000 digits"), str(2**256)],
)  # fmt: skip
def test_a_price_the_token_cannot_hold_is_one_line_and_nothing_is_sent(
    cli, chain, store, price, hostile_6
):
    nonce = chain.nonce(ME.address)
    for verb in (POST, ("estimate", "--image", IMAGE, "--cmd", "true")):
        line = one_error_line(cli(*verb, "--price", price, "--market", hostile_6.address), 2)
        assert len(line) < 400, line
    assert chain.nonce(ME.address) == nonce


@pytest.fixture(scope="module")
def hostile_6(chain, store) -> HostileMarket:
    return hostile_market(chain, store)
