"""A market that pays in an ERC-20 token: escrow, stakes and payouts in the token, whatever the
token's quirks (no boolean, false instead of a revert, a blacklist, 6 decimals, a fee on
transfer), and posting with an EIP-2612 permit in one transaction.

The tokens are real contracts (contracts/test/TestToken.vy, NoReturnToken.vy) on the real
chain; each kind is described in ``contract_helpers.TOKEN_KINDS``.
"""

import ape
import pytest
from ape import chain
from contract_helpers import (
    ABANDON_SLASH_BPS,
    ARBITER_WINDOW,
    COLLATERAL_BPS,
    MAX_BPS,
    REVIEW_WINDOW,
    WORK_TIMEOUT,
    ZERO_ADDRESS,
    digest,
    next_timestamp,
    only,
    set_next_timestamp,
)

from jobmarket.chain import accounts as chain_accounts
from jobmarket.chain.client import MarketClient
from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState
from jobmarket.chain.token import permit_typed_data, sign_permit

PAYING_KINDS = ("usdc", "quiet", "usdt")


def solvent(tm, accounts) -> bool:
    """token balance == Σ escrow of unsettled jobs + Σ stakes + Σ credits."""
    market = tm.market
    escrow = 0
    for job_id in range(market.job_count()):
        job = market.get_job(job_id)
        if not JobState(job.state).is_terminal:
            escrow += job.price
    stakes = sum(market.provider_info(a).stake for a in accounts)
    credits = sum(market.credits(a) for a in accounts)
    return tm.balance() == escrow + stakes + credits


@pytest.mark.parametrize("kind", PAYING_KINDS)
def test_a_whole_job_is_escrowed_staked_and_paid_in_the_token(
    kind, token_markets, accounts, requester, provider
):
    tm = token_markets[kind]
    market, token = tm.market, tm.token
    requester_before = token.balanceOf(requester)
    stake_before = market.provider_info(provider).stake

    job_id = tm.post(requester)
    assert token.balanceOf(requester) == requester_before - tm.price
    assert market.get_job(job_id).price == tm.price
    market.claim(job_id, sender=provider)
    assert market.provider_info(provider).locked == tm.price * COLLATERAL_BPS // MAX_BPS
    market.submit_result(job_id, digest("result"), sender=provider)
    market.accept(job_id, sender=requester)

    assert market.provider_info(provider).stake == stake_before + tm.price
    assert market.provider_info(provider).locked == 0
    provider_before = token.balanceOf(provider)
    market.withdraw_stake(tm.price, sender=provider)
    assert token.balanceOf(provider) == provider_before + tm.price
    assert solvent(tm, accounts[:8])


@pytest.mark.parametrize("kind", PAYING_KINDS)
def test_refunds_are_pushed_in_the_token(kind, token_markets, accounts, requester, provider):
    tm = token_markets[kind]
    before = tm.token.balanceOf(requester)
    job_id = tm.post(requester)
    receipt = tm.market.cancel(job_id, sender=requester)

    paid = only(receipt.events.filter(tm.market.Paid))
    assert (paid.account, paid.amount) == (requester.address, tm.price)
    assert tm.token.balanceOf(requester) == before
    assert solvent(tm, accounts[:8])


@pytest.mark.parametrize("kind", PAYING_KINDS)
def test_a_blacklisted_receiver_gets_a_credit_instead_of_blocking_the_settlement(
    kind, token_markets, accounts, requester, provider
):
    """A token that refuses a receiver (a revert, or ``false`` from the quiet token) must not
    stop the job from settling: the refund becomes a credit, withdrawn once unblocked."""
    tm = token_markets[kind]
    market = tm.market
    job_id = tm.post(requester)
    market.claim(job_id, sender=provider)
    set_next_timestamp(market.get_job(job_id).deadline + 1)
    tm.token.set_blocked(requester, True, sender=requester)
    receipt = market.reclaim(job_id, sender=provider)

    owed = tm.price + tm.price * COLLATERAL_BPS // MAX_BPS
    assert JobState(market.get_job(job_id).state) is JobState.EXPIRED
    credited = only(receipt.events.filter(market.Credited))
    assert (credited.account, credited.amount) == (requester.address, owed)
    assert not receipt.events.filter(market.Paid)
    assert market.credits(requester) == owed
    assert solvent(tm, accounts[:8])

    with ape.reverts(Revert.TRANSFER_FAILED):
        market.withdraw(sender=requester)
    assert market.credits(requester) == owed

    tm.token.set_blocked(requester, False, sender=requester)
    before = tm.token.balanceOf(requester)
    market.withdraw(sender=requester)
    assert tm.token.balanceOf(requester) == before + owed
    assert market.credits(requester) == 0
    assert solvent(tm, accounts[:8])


@pytest.mark.parametrize("kind", PAYING_KINDS)
def test_a_transfer_the_token_refuses_is_refused_at_post_and_nothing_is_stored(
    kind, token_markets, stranger
):
    """No allowance and no balance: the token reverts or returns false; either way the post
    reverts with one reason."""
    tm = token_markets[kind]
    with ape.reverts(Revert.TOKEN_TRANSFER_FAILED):
        tm.post(stranger)
    assert tm.market.job_count() == 0


def test_a_fee_on_transfer_token_is_refused_at_post_and_at_stake(
    token_markets, requester, provider
):
    """The market checks what it received: a token that keeps a fee would leave the escrow
    short of what the market owes, so the post and the deposit revert."""
    tm = token_markets["fee"]
    tm.token.mint(provider, tm.unit, sender=provider)
    tm.token.set_fee_bps(100, sender=requester)
    before = tm.token.balanceOf(requester)
    with ape.reverts(Revert.TOKEN_FEE_ON_TRANSFER):
        tm.post(requester)
    with ape.reverts(Revert.TOKEN_FEE_ON_TRANSFER):
        tm.market.deposit_stake_token(tm.unit, sender=provider)
    assert tm.market.job_count() == 0
    assert tm.token.balanceOf(requester) == before

    tm.token.set_fee_bps(0, sender=requester)
    job_id = tm.post(requester)
    assert tm.market.get_job(job_id).price == tm.price


def test_six_decimal_prices_count_in_millionths_and_18_decimal_prices_in_gwei(
    token_markets, requester
):
    usdc, quiet = token_markets["usdc"], token_markets["quiet"]
    assert usdc.market.price_unit() == 1
    assert quiet.market.price_unit() == 10**9
    twelve_and_a_half = 12_500_000  # 12.5 tokens of 6 decimals
    job_id = usdc.post(requester, price=twelve_and_a_half)
    assert usdc.market.get_job(job_id).price == twelve_and_a_half
    one_unit = usdc.post(requester, price=1)
    assert usdc.market.get_job(one_unit).price == 1

    with ape.reverts(Revert.PRICE_NOT_WHOLE_GWEI):
        quiet.post(requester, price=10**9 + 1)
    with ape.reverts(Revert.PRICE_TOO_HIGH):
        usdc.post(requester, price=2**56)


def _permit(tm, owner, amount, deadline, nonce=None):
    typed = permit_typed_data(
        token_name=tm.token.name(),
        chain_id=chain.chain_id,
        token=tm.token.address,
        owner=owner.address,
        spender=tm.market.address,
        value=amount,
        nonce=tm.token.nonces(owner) if nonce is None else nonce,
        deadline=deadline,
    )
    return sign_permit(owner.private_key, typed)


def _post_with_permit(tm, sender, signature, deadline):
    now = next_timestamp()
    return tm.market.post_job_permit(
        digest(f"spec {tm.market.job_count()}"),
        ZERO_ADDRESS,
        now + 3_600,
        WORK_TIMEOUT,
        REVIEW_WINDOW,
        tm.price,
        deadline,
        *signature,
        sender=sender,
    )


def test_a_requester_posts_with_a_permit_in_one_transaction(token_markets, accounts):
    """A fresh account that never approved anything signs a permit off-chain and posts."""
    tm = token_markets["usdc"]
    newcomer = accounts[7]
    tm.token.mint(newcomer, tm.price, sender=newcomer)
    deadline = chain.blocks.head.timestamp + 600
    receipt = _post_with_permit(tm, newcomer, _permit(tm, newcomer, tm.price, deadline), deadline)

    posted = only(receipt.events.filter(tm.market.JobPosted))
    assert (posted.requester, posted.price) == (newcomer.address, tm.price)
    assert tm.token.balanceOf(newcomer) == 0
    assert tm.token.allowance(newcomer, tm.market) == 0


def test_a_front_run_permit_does_not_stop_the_post(token_markets, accounts, stranger):
    """Someone who copies the permit from the mempool and submits it first only sets the
    allowance the post needed anyway."""
    tm = token_markets["usdc"]
    newcomer = accounts[7]
    tm.token.mint(newcomer, tm.price, sender=newcomer)
    deadline = chain.blocks.head.timestamp + 600
    signature = _permit(tm, newcomer, tm.price, deadline)
    tm.token.permit(newcomer, tm.market, tm.price, deadline, *signature, sender=stranger)

    _post_with_permit(tm, newcomer, signature, deadline)
    assert tm.market.job_count() == 1
    assert tm.token.balanceOf(newcomer) == 0


def test_a_permit_signed_by_someone_else_posts_nothing(token_markets, accounts, stranger):
    tm = token_markets["usdc"]
    newcomer = accounts[7]
    tm.token.mint(newcomer, tm.price, sender=newcomer)
    deadline = chain.blocks.head.timestamp + 600
    forged = _permit(tm, stranger, tm.price, deadline, nonce=tm.token.nonces(newcomer))
    with ape.reverts(Revert.TOKEN_TRANSFER_FAILED):
        _post_with_permit(tm, newcomer, forged, deadline)
    assert tm.market.job_count() == 0
    assert tm.token.balanceOf(newcomer) == tm.price


def test_each_market_takes_only_its_own_currency(
    token_markets, market, requester, provider, stranger
):
    """ETH sent to a token market, or a token call on an ETH market, is refused by name."""
    tm = token_markets["usdc"]
    now = next_timestamp()
    terms = (digest("spec"), ZERO_ADDRESS, now + 3_600, WORK_TIMEOUT, REVIEW_WINDOW)
    with ape.reverts(Revert.MARKET_PAYS_IN_A_TOKEN):
        tm.market.post_job(*terms, sender=requester, value=10**16)
    with ape.reverts(Revert.MARKET_PAYS_IN_A_TOKEN):
        tm.market.register(digest("caps"), sender=stranger, value=10**18)
    with ape.reverts(Revert.MARKET_PAYS_IN_A_TOKEN):
        tm.market.deposit_stake(sender=provider, value=10**18)

    with ape.reverts(Revert.MARKET_PAYS_IN_ETH):
        market.post_job_token(*terms, 10**16, sender=requester)
    with ape.reverts(Revert.MARKET_PAYS_IN_ETH):
        market.post_job_permit(
            *terms, 10**16, now, 27, b"\x01" * 32, b"\x01" * 32, sender=requester
        )
    with ape.reverts(Revert.MARKET_PAYS_IN_ETH):
        market.deposit_stake_token(10**18, sender=provider)
    assert market.token() == ZERO_ADDRESS
    assert tm.market.token() == tm.token.address


def test_a_market_cannot_be_deployed_with_an_address_that_is_not_a_token(
    job_market_container, owner, arbiter, stranger, market
):
    args = (arbiter, ARBITER_WINDOW, COLLATERAL_BPS, ABANDON_SLASH_BPS)
    with ape.reverts(Revert.TOKEN_IS_NOT_A_CONTRACT):
        owner.deploy(job_market_container, *args, stranger)
    with ape.reverts(Revert.TOKEN_HAS_NO_DECIMALS):
        owner.deploy(job_market_container, *args, market)  # a contract without decimals()


@pytest.mark.parametrize("decimals", [19, 24, 36])
def test_a_token_whose_prices_no_stake_could_back_is_refused_at_deployment(
    project, job_market_container, owner, arbiter, provider, decimals
):
    """Stakes hold 96 bits (79 billion units of 10**18): in a 36-decimal token that is
    0.00000008 tokens, so a job of 1 token (collateral 0.1) could never be claimed."""
    args = (arbiter, ARBITER_WINDOW, COLLATERAL_BPS, ABANDON_SLASH_BPS)
    token = owner.deploy(project.TestToken, "Wide", "WIDE", decimals, False)
    with ape.reverts(Revert.TOKEN_DECIMALS_ABOVE_18):
        owner.deploy(job_market_container, *args, token)
    eighteen = owner.deploy(project.TestToken, "Wide", "WIDE", 18, False)
    market = owner.deploy(job_market_container, *args, eighteen)
    eighteen.mint(provider, 10**9 * 10**18, sender=owner)
    eighteen.approve(market, 10**9 * 10**18, sender=provider)
    market.register(digest("capabilities"), sender=provider)
    market.deposit_stake_token(10**9 * 10**18, sender=provider)  # a billion tokens fit


def test_the_market_client_posts_with_a_permit_and_stakes_in_tokens(token_markets, accounts):
    """What the requester and the node call: the client picks the token entry points, signs
    the permit and reads amounts in the token's units."""
    tm = token_markets["usdc"]
    client = MarketClient(chain.provider.web3, tm.market.address)
    newcomer = chain_accounts.test_account(7)
    assert newcomer.address == accounts[7].address
    tm.token.mint(newcomer.address, 3 * tm.price, sender=accounts[7])
    assert client.currency.format(client.currency_balance(newcomer.address)) == "30 USDC"
    assert client.supports_permit()

    deadline = chain.blocks.head.timestamp + 600
    signature = client.sign_permit(newcomer, tm.price, deadline)
    now = chain.blocks.head.timestamp
    function, args, value = client.post_call(
        digest("spec"), ZERO_ADDRESS, now + 3_600, WORK_TIMEOUT, REVIEW_WINDOW, tm.price,
        permit=(deadline, *signature),
    )  # fmt: skip
    assert (function, value) == ("post_job_permit", 0)
    client.transact(newcomer, function, *args, value=value)
    assert client.job(0).price == tm.price
    assert client.currency_balance(newcomer.address) == 2 * tm.price

    signed = newcomer.sign_transaction(client.build_approve(newcomer.address, tm.price))
    client.wait(client.send_signed(signed.raw_transaction), "approve")
    assert client.allowance(newcomer.address) == tm.price
    client.transact(newcomer, "register", digest("capabilities"))
    function, args, value = client.stake_call(tm.price)
    client.transact(newcomer, function, *args, value=value)
    assert client.provider_info(newcomer.address).stake == tm.price


def test_the_market_client_of_an_eth_market_keeps_eth_terms(market, requester):
    client = MarketClient(chain.provider.web3, market.address)
    assert client.token_address is None
    assert client.currency.format(10**16) == "0.01 ETH"
    assert client.post_call(digest("s"), ZERO_ADDRESS, 1, 2, 3, 10**16)[0::2] == (
        "post_job",
        10**16,
    )
    assert client.stake_call(10**18) == ("deposit_stake", (), 10**18)
    assert client.allowance(requester.address) == 0
