"""A provider on a market whose token is hostile (contracts/test/HostileToken.vy): an
``approve`` that refuses to change a non-zero allowance (as USDT does) must not stop a stake;
a symbol of control characters or 10 KB is shown as one short word; a token that changes its
decimals after deployment is one ``error:`` line, with nothing sent.

Real anvil, real token contract, a real market recorded for the chain, the real
``provider-node`` CLI in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eth_abi import encode as abi_encode
from node_world import PROVIDER, PROVIDER_ADDRESS
from web3 import Web3

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.devtoken import compiled, token_call
from jobmarket.devnet import Anvil, deploy_market
from provider_node.cli import main

HUSD = 10**6
DEPLOYER = dev_account(0)
PROVIDER_KEY = dev_account(1)


class HostileWorld:
    def __init__(self, url: str, w3: Web3, client: MarketClient, token) -> None:
        self.url, self.w3, self.client, self.token = url, w3, client, token

    def cli(self, *args: str) -> Result:
        options = ["--rpc-url", self.url, "--account", PROVIDER]
        return CliRunner(mix_stderr=False).invoke(main, [*args, *options])

    def configure(self, call) -> None:
        token_call(self.w3, DEPLOYER, call)

    def nonce(self) -> int:
        return self.w3.eth.get_transaction_count(PROVIDER_ADDRESS, "pending")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    """A fresh anvil, a 6-decimal hostile token with USDT's approve rule, and the market
    paying in it recorded as the chain's market; 1,000 hUSD for the provider."""
    home: Path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JOBMARKET_HOME", str(home))
        for variable in ("IPFS_API", "JOBMARKET_IPFS_DIR", "JOBMARKET_DEPLOYMENTS",
                         "JOBMARKET_RPC_URL", "JOBMARKET_ACCOUNT", "JOBMARKET_MARKET"):  # fmt: skip
            env.delenv(variable, raising=False)
        with Anvil(log_path=home / "anvil.log") as anvil:
            w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
            code = compiled("HostileToken")
            factory = w3.eth.contract(abi=code["abi"], bytecode=code["bytecode"])
            receipt = token_call(w3, DEPLOYER, factory.constructor("Hostile USD", "hUSD", 6))
            token = w3.eth.contract(address=receipt["contractAddress"], abi=code["abi"])
            token_call(w3, DEPLOYER, token.functions.mint(PROVIDER_ADDRESS, 1_000 * HUSD))
            token_call(w3, DEPLOYER, token.functions.set_usdt_approve(True))
            deployment = deploy_market(
                w3, DEPLOYER, arbiter=dev_account(9).address, token=token.address
            )
            client = MarketClient(w3, deployment.address, deployment)
            yield HostileWorld(anvil.url, w3, client, token)


@pytest.fixture(scope="module")
def registered(world: HostileWorld) -> str:
    """The provider registered with a 500 hUSD stake (its allowance starts at zero)."""
    result = world.cli("register", "--stake", "500", "--image", "jobmarket/*")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_a_stake_after_a_leftover_allowance_on_a_usdt_style_token_resets_it_first(
    world, registered
):
    assert "stake 500 hUSD" in registered
    # A leftover allowance (an earlier approve that was not used up): USDT refuses to change
    # it to another non-zero amount.
    token_call(world.w3, PROVIDER_KEY, world.token.functions.approve(world.client.address, 1))
    nonce = world.nonce()
    before = world.client.provider_info(PROVIDER_ADDRESS).stake

    more = world.cli("stake", "100")

    assert more.exit_code == 0, more.stderr
    assert "staked 100 hUSD: stake " in more.stdout
    assert world.nonce() == nonce + 3  # approve(0), approve(100), deposit_stake_token
    assert world.client.provider_info(PROVIDER_ADDRESS).stake == before + 100 * HUSD
    assert world.client.allowance(PROVIDER_ADDRESS) == 0


def test_a_balance_that_lies_is_refused_before_the_approve_of_a_stake(world, registered):
    world.configure(world.token.functions.set_balance_lie(10**6 * HUSD))
    nonce = world.nonce()
    try:
        result = world.cli("stake", "5000")
    finally:
        world.configure(world.token.functions.set_balance_lie(0))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert "the token refuses to move 5000 hUSD from" in line and "nothing was sent" in line
    assert world.nonce() == nonce


def _string(raw: bytes) -> bytes:
    return abi_encode(["uint256", "uint256"], [32, len(raw)]) + raw + b"\0" * (-len(raw) % 32)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_string(b"\x1b]0;pwned\x07\x1b[2J"), id="control characters"),
        pytest.param(_string(b"H" * 10_240), id="10 KB"),
        pytest.param(_string(b"\xff\xfe"), id="invalid UTF-8"),
    ],
)
def test_status_and_stake_show_a_hostile_symbol_as_one_short_word(world, registered, raw):
    world.configure(world.token.functions.set_answer("symbol", raw))
    for verb in (("status",), ("stake", "1")):
        result = world.cli(*verb)
        # status exits 1 while the node is not running; what matters is what it prints.
        assert result.exit_code == (1 if verb == ("status",) else 0), (verb, result.stderr)
        assert result.stderr == "" and "stake" in result.stdout
        text = result.stdout
        assert all(ch == "\n" or ch.isprintable() for ch in text), repr(text[:300])
        assert "\x1b" not in text and "HHHHHHHHHHHHHHHHH" not in text and len(text) < 4000


def test_a_token_that_changes_its_decimals_is_one_line_and_nothing_is_sent(world, registered):
    world.configure(world.token.functions.set_answer("decimals", abi_encode(["uint8"], [18])))
    nonce = world.nonce()
    for verb in (("status",), ("stake", "1"), ("unstake", "1")):
        result = world.cli(*verb)
        assert result.exit_code == 1, (verb, result.stdout, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and "now answers 18 decimals" in line, line
    assert world.nonce() == nonce
