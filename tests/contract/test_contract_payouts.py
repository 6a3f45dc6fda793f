"""No receiver can block a settlement, re-enter the market, or be paid twice.

A HostileAccount (contracts/test/HostileAccount.vy) plays the requester or the provider and
misbehaves when paid: it refuses the payment, burns all the gas it is given, or re-enters the
market (with the call that would pay it a second time) and then either accepts or refuses.

- Pushed payouts (refunds, slashes, dispute splits) go through whatever the receiver does: a
  payment it refuses becomes a credit that it can withdraw later.
- Pulled payouts (``withdraw``, ``withdraw_stake``) give the receiver all the gas; a receiver
  that refuses them only reverts its own withdrawal, and the money stays where it was.
"""

from collections.abc import Callable
from dataclasses import dataclass

import ape
import pytest
from contract_helpers import (
    COLLATERAL,
    PRICE,
    REVIEW_WINDOW,
    SLASH_ON_ABANDON,
    STAKE,
    WORK_TIMEOUT,
    ZERO_ADDRESS,
    digest,
    next_timestamp,
    set_next_timestamp,
)

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

ACCEPT, REFUSE, BURN_GAS, REENTER, REENTER_OR_REFUSE = range(5)
MODES = {
    "refuse": REFUSE,
    "burn gas": BURN_GAS,
    "reenter": REENTER,
    "reenter or refuse": REENTER_OR_REFUSE,
}
# A gas-burning receiver of a full-gas withdrawal burns everything it is given; a fixed limit
# (instead of the estimate, which tries the whole block) keeps that affordable under tracing.
WITHDRAW_GAS = {"gas": 2_000_000}


@dataclass
class Payout:
    """A job set up so that ``trigger`` pushes ``owed`` wei to the hostile requester."""

    job_id: int
    trigger: Callable[[], object]
    owed: int
    settled_state: JobState
    # The call the hostile receiver tries to re-enter with.
    reentry: bytes


@dataclass
class Cast:
    market: object
    hostile: object
    provider: object
    arbiter: object
    stranger: object

    def hostile_posts(self, claim_window: int = 3_600) -> int:
        data = self.market.post_job.encode_input(
            digest("hostile spec"),
            ZERO_ADDRESS,
            next_timestamp() + claim_window,
            WORK_TIMEOUT,
            REVIEW_WINDOW,
        )
        self.hostile.execute(data, PRICE, sender=self.stranger)
        return self.market.job_count() - 1

    def as_hostile(self, function: str, *args, **tx_args) -> object:
        data = getattr(self.market, function).encode_input(*args)
        return self.hostile.execute(data, 0, sender=self.stranger, **tx_args)

    def deadline(self, job_id: int) -> int:
        return self.market.get_job(job_id).deadline


def cancel(cast: Cast) -> Payout:
    job_id = cast.hostile_posts()
    return Payout(
        job_id,
        lambda: cast.as_hostile("cancel", job_id),
        PRICE,
        JobState.CANCELED,
        cast.market.cancel.encode_input(job_id),
    )


def reclaim_open(cast: Cast) -> Payout:
    job_id = cast.hostile_posts(claim_window=10)
    set_next_timestamp(cast.deadline(job_id) + 1)
    return Payout(
        job_id,
        lambda: cast.market.reclaim(job_id, sender=cast.stranger),
        PRICE,
        JobState.EXPIRED,
        cast.market.reclaim.encode_input(job_id),
    )


def reclaim_claimed(cast: Cast) -> Payout:
    job_id = cast.hostile_posts()
    cast.market.claim(job_id, sender=cast.provider)
    set_next_timestamp(cast.deadline(job_id) + 1)
    return Payout(
        job_id,
        lambda: cast.market.reclaim(job_id, sender=cast.stranger),
        PRICE + COLLATERAL,
        JobState.EXPIRED,
        cast.market.reclaim.encode_input(job_id),
    )


def abandon(cast: Cast) -> Payout:
    job_id = cast.hostile_posts()
    cast.market.claim(job_id, sender=cast.provider)
    return Payout(
        job_id,
        lambda: cast.market.abandon(job_id, sender=cast.provider),
        SLASH_ON_ABANDON,
        JobState.OPEN,
        # The job is open again during the push: a cancel would refund the price.
        cast.market.cancel.encode_input(job_id),
    )


def _disputed(cast: Cast) -> int:
    job_id = cast.hostile_posts()
    cast.market.claim(job_id, sender=cast.provider)
    cast.market.submit_result(job_id, digest("result"), sender=cast.provider)
    cast.as_hostile("dispute", job_id)
    return job_id


def resolve_split(cast: Cast) -> Payout:
    job_id = _disputed(cast)
    return Payout(
        job_id,
        lambda: cast.market.resolve(job_id, 6_000, sender=cast.arbiter),
        PRICE * 4 // 10,
        JobState.RESOLVED,
        cast.market.withdraw.encode_input(),
    )


def close_dispute(cast: Cast) -> Payout:
    job_id = _disputed(cast)
    set_next_timestamp(cast.deadline(job_id) + 1)
    return Payout(
        job_id,
        lambda: cast.market.close_dispute(job_id, sender=cast.stranger),
        PRICE // 2,
        JobState.RESOLVED,
        cast.market.close_dispute.encode_input(job_id),
    )


PUSH_PATHS = [cancel, reclaim_open, reclaim_claimed, abandon, resolve_split, close_dispute]


@pytest.fixture
def cast(market, hostile_factory, provider, arbiter, stranger) -> Cast:
    return Cast(market, hostile_factory(), provider, arbiter, stranger)


@pytest.mark.parametrize("mode", list(MODES), ids=str)
@pytest.mark.parametrize("path", PUSH_PATHS, ids=lambda path: path.__name__)
def test_a_hostile_receiver_cannot_block_or_double_a_pushed_payout(path, mode, cast):
    market, hostile = cast.market, cast.hostile
    payout = path(cast)
    hostile.configure(MODES[mode], payout.reentry, sender=cast.stranger)
    market_before, hostile_before = market.balance, hostile.balance

    receipt = payout.trigger()

    assert JobState(market.get_job(payout.job_id).state) is payout.settled_state
    if mode == "reenter":
        # The receiver accepted the payment; its attempt to re-enter was refused by the lock.
        assert [log.success for log in receipt.events.filter(hostile.Reentered)] == [False]
        paid = receipt.events.filter(market.Paid)
        assert [(log.account, log.amount) for log in paid] == [(hostile.address, payout.owed)]
        assert hostile.balance == hostile_before + payout.owed
        assert market.credits(hostile) == 0
        assert market.balance == market_before - payout.owed
        return

    # The payment failed, so it became a credit; the settlement went through all the same.
    credited = receipt.events.filter(market.Credited)
    assert [(log.account, log.job_id, log.amount) for log in credited] == [
        (hostile.address, payout.job_id, payout.owed)
    ]
    assert not receipt.events.filter(market.Paid)
    assert hostile.balance == hostile_before
    assert market.credits(hostile) == payout.owed
    assert market.balance == market_before

    # Once it behaves, the receiver withdraws its credit, exactly once.
    hostile.configure(ACCEPT, b"", sender=cast.stranger)
    cast.as_hostile("withdraw")
    assert hostile.balance == hostile_before + payout.owed
    assert market.credits(hostile) == 0
    with ape.reverts(Revert.NOTHING_TO_WITHDRAW):
        cast.as_hostile("withdraw")


@pytest.mark.parametrize("mode", list(MODES), ids=str)
def test_withdraw_pays_a_credit_once_or_not_at_all(mode, cast):
    market, hostile = cast.market, cast.hostile
    hostile.configure(REFUSE, b"", sender=cast.stranger)
    cast.as_hostile("cancel", cast.hostile_posts())
    assert market.credits(hostile) == PRICE
    hostile.configure(MODES[mode], market.withdraw.encode_input(), sender=cast.stranger)
    hostile_before = hostile.balance

    if mode == "reenter":
        receipt = cast.as_hostile("withdraw")
        assert [log.success for log in receipt.events.filter(hostile.Reentered)] == [False]
        assert len(receipt.events.filter(market.Withdrawn)) == 1
        assert hostile.balance == hostile_before + PRICE
        assert market.credits(hostile) == 0
    else:
        with ape.reverts(Revert.TRANSFER_FAILED):
            cast.as_hostile("withdraw", **WITHDRAW_GAS)
        assert hostile.balance == hostile_before
        assert market.credits(hostile) == PRICE


@pytest.mark.parametrize("mode", list(MODES), ids=str)
def test_withdraw_stake_pays_once_or_not_at_all(mode, cast):
    market, hostile = cast.market, cast.hostile
    hostile.execute(
        market.register.encode_input(digest("hostile caps")), STAKE, sender=cast.stranger
    )
    amount = STAKE // 2
    hostile.configure(MODES[mode], market.withdraw_stake.encode_input(amount), sender=cast.stranger)
    hostile_before = hostile.balance

    if mode == "reenter":
        receipt = cast.as_hostile("withdraw_stake", amount)
        assert [log.success for log in receipt.events.filter(hostile.Reentered)] == [False]
        assert hostile.balance == hostile_before + amount
        assert market.provider_info(hostile).stake == STAKE - amount
    else:
        with ape.reverts(Revert.TRANSFER_FAILED):
            cast.as_hostile("withdraw_stake", amount, **WITHDRAW_GAS)
        assert hostile.balance == hostile_before
        assert market.provider_info(hostile).stake == STAKE


def test_views_are_locked_during_a_payout_too(cast):
    """Read-only re-entry: a receiver cannot read half-updated state while being paid."""
    market, hostile = cast.market, cast.hostile
    job_id = cast.hostile_posts()
    hostile.configure(REENTER, market.get_job.encode_input(job_id), sender=cast.stranger)
    receipt = cast.as_hostile("cancel", job_id)
    assert [log.success for log in receipt.events.filter(hostile.Reentered)] == [False]
