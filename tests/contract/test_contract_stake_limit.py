"""A settlement never depends on how much the claimer already holds.

A provider's stake lives in a 96-bit field (2**96 - 1 wei, about 79 billion ether). A payout
that would take the stake over that limit used to revert the whole settlement ("stake too
high"), so a provider's own state could block the requester's accept, anyone's finalize or
close_dispute and the arbiter's resolve. Now the stake stops at the limit and the rest of the
payout is credited to the provider (``StakeLimitReached`` + ``Credited``), withdrawable with
``withdraw``; nothing is lost and the market stays exactly solvent. The provider's own deposits
at the limit are still refused (test_contract_providers), since refusing them blocks nobody.

The near-limit stake is real: the account is funded with anvil_setBalance and registers with it.
"""

from collections.abc import Callable

import ape
import pytest
from contract_helpers import PRICE, STAKE, Jobs, digest, fees, only, set_next_timestamp

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

MAX_STAKE = 2**96 - 1
FEE_BPS = 250


@pytest.fixture
def whale(accounts, chain, market):
    """A registered provider whose stake is ``MAX_STAKE - headroom`` (set by the test)."""
    account = accounts[6]
    chain.provider.set_balance(account.address, 2**97)

    def stake_up_to(headroom: int):
        market.register(digest("whale caps"), sender=account, value=MAX_STAKE - headroom)
        return account

    return stake_up_to


@pytest.fixture
def whale_jobs(market, requester, arbiter, owner) -> Callable[[object], Jobs]:
    return lambda claimer: Jobs(market, requester, claimer, arbiter, owner)


def _accept(jobs: Jobs) -> tuple[int, object]:
    job_id = jobs.submitted()
    return job_id, jobs.market.accept(job_id, sender=jobs.requester)


def _finalize(jobs: Jobs) -> tuple[int, object]:
    job_id = jobs.submitted()
    set_next_timestamp(jobs.deadline(job_id) + 1)
    return job_id, jobs.market.finalize(job_id, sender=jobs.owner)


def _resolve_in_full(jobs: Jobs) -> tuple[int, object]:
    job_id = jobs.disputed()
    return job_id, jobs.market.resolve(job_id, 10_000, sender=jobs.arbiter)


def _resolve_60_40(jobs: Jobs) -> tuple[int, object]:
    job_id = jobs.disputed()
    return job_id, jobs.market.resolve(job_id, 6_000, sender=jobs.arbiter)


def _close_dispute(jobs: Jobs) -> tuple[int, object]:
    job_id = jobs.disputed()
    set_next_timestamp(jobs.deadline(job_id) + 1)
    return job_id, jobs.market.close_dispute(job_id, sender=jobs.owner)


# settle, the provider's share of the price in bps, the state it ends in
SETTLEMENTS = [
    (_accept, 10_000, JobState.ACCEPTED),
    (_finalize, 10_000, JobState.ACCEPTED),
    (_resolve_in_full, 10_000, JobState.RESOLVED),
    (_resolve_60_40, 6_000, JobState.RESOLVED),
    (_close_dispute, 5_000, JobState.RESOLVED),
]


def _solvency_gap(market, accounts) -> int:
    """balance - (escrow + stakes + credits) over the cast; the test's jobs are all settled."""
    held = sum(market.provider_info(a).stake + market.credits(a) for a in accounts)
    return market.balance - held


@pytest.mark.parametrize("with_fee", [False, True], ids=["no fee", "1% fee"])
@pytest.mark.parametrize(
    ("settle", "share_bps", "end_state"),
    SETTLEMENTS,
    ids=[settle.__name__.strip("_") for settle, _, _ in SETTLEMENTS],
)
def test_a_payout_over_the_stake_limit_settles_and_the_excess_is_credited(
    settle, share_bps, end_state, with_fee, market, whale, whale_jobs, accounts, owner
):
    if with_fee:
        market.set_params(FEE_BPS, 1_000, 2_000, sender=owner)
    gross = PRICE * share_bps // 10_000
    fee = gross * FEE_BPS // 10_000 if with_fee else 0
    payout = gross - fee
    headroom = payout // 4
    claimer = whale(headroom)
    cast = list(accounts)
    gap_before = _solvency_gap(market, cast)

    job_id, receipt = settle(whale_jobs(claimer))

    # The settlement went through, the stake stopped at the limit, the rest is a credit.
    assert JobState(market.get_job(job_id).state) is end_state
    info = market.provider_info(claimer)
    assert (info.stake, info.locked) == (MAX_STAKE, 0)
    excess = payout - headroom
    assert market.credits(claimer) == excess
    capped = only(receipt.events.filter(market.StakeLimitReached))
    assert (capped.account, capped.job_id, capped.stake, capped.credited) == (
        claimer.address,
        job_id,
        MAX_STAKE,
        excess,
    )
    credited = [(c.account, c.job_id, c.amount) for c in receipt.events.filter(market.Credited)]
    expected = [(claimer.address, job_id, excess)] + ([(owner.address, job_id, fee)] if fee else [])
    assert credited == expected
    if end_state is JobState.ACCEPTED:
        assert only(receipt.events.filter(market.JobAccepted)).payout == payout
    else:
        assert only(receipt.events.filter(market.JobResolved)).to_provider == payout
    # Not a wei appeared or vanished: the escrow became stake, credits and the requester's share.
    assert _solvency_gap(market, cast) == gap_before

    # The provider withdraws the excess, exactly once.
    balance_before = claimer.balance
    withdrawal = market.withdraw(sender=claimer)
    assert only(withdrawal.events.filter(market.Withdrawn)).amount == excess
    assert claimer.balance == balance_before + excess - fees(withdrawal)
    assert market.credits(claimer) == 0
    assert _solvency_gap(market, cast) == gap_before
    with ape.reverts(Revert.NOTHING_TO_WITHDRAW):
        market.withdraw(sender=claimer)


def test_a_payout_that_exactly_fills_the_stake_credits_nothing(market, whale, whale_jobs):
    claimer = whale(PRICE)

    job_id, receipt = _accept(whale_jobs(claimer))

    assert JobState(market.get_job(job_id).state) is JobState.ACCEPTED
    assert market.provider_info(claimer).stake == MAX_STAKE
    assert market.credits(claimer) == 0
    assert not receipt.events.filter(market.StakeLimitReached)
    assert not receipt.events.filter(market.Credited)


def test_a_stake_at_the_limit_takes_the_whole_payout_as_credit(market, whale, whale_jobs):
    claimer = whale(0)
    jobs = whale_jobs(claimer)

    job_id, receipt = _accept(jobs)

    assert JobState(market.get_job(job_id).state) is JobState.ACCEPTED
    assert market.provider_info(claimer).stake == MAX_STAKE
    assert market.credits(claimer) == PRICE
    assert only(receipt.events.filter(market.StakeLimitReached)).credited == PRICE
    # The capped provider keeps working: it claims again, and withdraws free stake as usual.
    next_job = jobs.claimed()
    assert JobState(market.get_job(next_job).state) is JobState.CLAIMED
    market.withdraw_stake(STAKE, sender=claimer)
    assert market.provider_info(claimer).stake == MAX_STAKE - STAKE


def test_a_slash_at_the_stake_limit_still_settles(market, whale, whale_jobs):
    """A full loss takes the collateral from a capped stake; nothing is credited to the loser."""
    claimer = whale(0)
    jobs = whale_jobs(claimer)
    job_id = jobs.disputed()
    collateral = market.get_job(job_id).collateral

    receipt = market.resolve(job_id, 0, sender=jobs.arbiter)

    assert JobState(market.get_job(job_id).state) is JobState.RESOLVED
    assert market.provider_info(claimer).stake == MAX_STAKE - collateral
    assert market.credits(claimer) == 0
    assert not receipt.events.filter(market.StakeLimitReached)
