"""Fixtures for the JobMarket contract tests: a market on a real anvil and a cast of accounts.

ape isolates every test (chain snapshot before, revert after), so the session-scoped market and
the staked providers are set up once and each test starts from the same chain state.

Speed: ape explains every revert with a source traceback and a labelled call tree, which costs
about a second per revert here. The market is therefore deployed from the freshly compiled
contract type *without* its source maps (exactly what ``jobmarket/chain/JobMarket.json`` ships),
and the derivation of the test accounts, which ape repeats for every label, is memoised. Revert
reasons still come from the real chain; only ape's debugging aids are skipped.
"""

import functools
from collections.abc import Callable, Iterator

import ape_test.accounts
import pytest
from ape.api import AccountAPI
from ape.contracts import ContractContainer, ContractInstance
from contract_helpers import (
    ABANDON_SLASH_BPS,
    ARBITER_WINDOW,
    COLLATERAL_BPS,
    STAKE,
    TOKEN_KINDS,
    ZERO_ADDRESS,
    Jobs,
    TokenMarket,
    digest,
    without_source_maps,
)


@pytest.fixture(scope="session", autouse=True)
def _memoised_test_accounts() -> Iterator[None]:
    """ape derives its ten test keys from the mnemonic in pure Python on every lookup."""
    original = ape_test.accounts.generate_dev_accounts
    ape_test.accounts.generate_dev_accounts = functools.cache(original)
    yield
    ape_test.accounts.generate_dev_accounts = original


@pytest.fixture(scope="session")
def job_market_container(project) -> ContractContainer:
    """JobMarket as compiled from contracts/, without the source maps (see module docstring)."""
    return without_source_maps(project.JobMarket.contract_type)


@pytest.fixture(scope="session")
def owner(accounts) -> AccountAPI:
    return accounts[0]


@pytest.fixture(scope="session")
def arbiter(accounts) -> AccountAPI:
    return accounts[1]


@pytest.fixture(scope="session")
def requester(accounts) -> AccountAPI:
    return accounts[2]


@pytest.fixture(scope="session")
def provider(accounts) -> AccountAPI:
    """A registered provider with STAKE staked."""
    return accounts[3]


@pytest.fixture(scope="session")
def provider2(accounts) -> AccountAPI:
    """A second registered provider with STAKE staked."""
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts) -> AccountAPI:
    """An account with no role in the market."""
    return accounts[5]


@pytest.fixture(scope="session")
def market(job_market_container, owner, arbiter, provider, provider2) -> ContractInstance:
    contract = owner.deploy(
        job_market_container,
        arbiter,
        ARBITER_WINDOW,
        COLLATERAL_BPS,
        ABANDON_SLASH_BPS,
        ZERO_ADDRESS,
    )
    for account in (provider, provider2):
        contract.register(digest(f"capabilities of {account.address}"), sender=account, value=STAKE)
    return contract


@pytest.fixture
def jobs(market, requester, provider, arbiter, owner) -> Jobs:
    return Jobs(market, requester, provider, arbiter, owner)


@pytest.fixture(scope="session")
def hostile_factory(project, owner, market) -> Callable[..., ContractInstance]:
    """Deploys a HostileAccount bound to the market, funded with ``balance`` wei."""

    container = without_source_maps(project.HostileAccount.contract_type)

    def deploy(balance: int = 10 * STAKE) -> ContractInstance:
        return owner.deploy(container, market, value=balance)

    return deploy


@pytest.fixture(scope="session")
def token_markets(
    project, job_market_container, owner, arbiter, requester, provider, provider2
) -> dict[str, TokenMarket]:
    """One market per token kind (contract_helpers.TOKEN_KINDS), each with its own test
    token: both providers registered with 1,000 tokens staked, the requester funded."""
    markets = {}
    for kind, (contract, decimals, quiet) in TOKEN_KINDS.items():
        container = without_source_maps(getattr(project, contract).contract_type)
        args = (f"Test {kind}", kind.upper(), decimals)
        token = owner.deploy(container, *args, *((quiet,) if contract == "TestToken" else ()))
        market = owner.deploy(
            job_market_container,
            arbiter,
            ARBITER_WINDOW,
            COLLATERAL_BPS,
            ABANDON_SLASH_BPS,
            token,
        )
        made = TokenMarket(kind, token, market, 10**decimals)
        made.fund(requester, 1_000_000 * made.unit)
        for account in (provider, provider2):
            made.fund(account, made.stake)
            market.register(digest(f"capabilities of {account.address}"), sender=account)
            market.deposit_stake_token(made.stake, sender=account)
        markets[kind] = made
    return markets
