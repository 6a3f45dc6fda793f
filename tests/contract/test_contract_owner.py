"""The owner tunes future jobs, pauses new business, hands over ownership; never moves money."""

import ape
import pytest
from ape import chain
from contract_helpers import (
    ABANDON_SLASH_BPS,
    ARBITER_WINDOW,
    COLLATERAL,
    COLLATERAL_BPS,
    PRICE,
    SLASH_ON_ABANDON,
    STAKE,
    ZERO_ADDRESS,
    digest,
    only,
    set_next_timestamp,
)

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

GLOBAL_SLOT = 2  # storage slot of JobMarket._global (`vyper -f layout`); checked below
VERSION_SHIFT = 65


# ---------------------------------------------------------------- parameters


def test_new_parameters_apply_to_jobs_posted_after_the_change(
    market, jobs, owner, requester, provider
):
    old_job = jobs.post()
    receipt = market.set_params(500, 2_000, 5_000, sender=owner)
    changed = only(receipt.events.filter(market.ParamsChanged))
    assert (changed.version, changed.fee_bps, changed.collateral_bps) == (1, 500, 2_000)
    assert changed.abandon_slash_bps == 5_000
    new_job = jobs.post()

    old, new = market.get_job(old_job), market.get_job(new_job)
    assert (old.params_version, old.fee_bps, old.collateral) == (0, 0, COLLATERAL)
    assert (new.params_version, new.fee_bps, new.collateral) == (1, 500, PRICE * 2_000 // 10_000)

    # The old job settles entirely on its old terms, the new one on the new terms.
    for job_id in (old_job, new_job):
        market.claim(job_id, sender=provider)
    assert market.provider_info(provider).locked == COLLATERAL + PRICE * 2_000 // 10_000
    for job_id in (old_job, new_job):
        market.submit_result(job_id, digest("result"), sender=provider)
        market.accept(job_id, sender=requester)
    fee = PRICE * 500 // 10_000
    assert market.provider_info(provider).stake == STAKE + PRICE + PRICE - fee
    assert market.credits(owner) == fee


def test_an_old_jobs_abandon_slash_uses_its_own_version(market, jobs, owner, requester, provider):
    job_id = jobs.claimed()
    market.set_params(0, 5_000, 10_000, sender=owner)
    balance_before = requester.balance
    market.abandon(job_id, sender=provider)
    assert requester.balance == balance_before + SLASH_ON_ABANDON


def test_params_and_their_history_are_readable(market, owner):
    assert market.params() == (0, 0, COLLATERAL_BPS, ABANDON_SLASH_BPS)
    market.set_params(100, 200, 300, sender=owner)
    assert market.params() == (1, 100, 200, 300)
    assert market.params_at(0) == (0, COLLATERAL_BPS, ABANDON_SLASH_BPS)
    assert market.params_at(1) == (100, 200, 300)
    with ape.reverts(Revert.UNKNOWN_PARAMS_VERSION):
        market.params_at(2)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ((1_001, 0, 0), Revert.FEE_ABOVE_CAP),
        ((0, 10_001, 0), Revert.BPS_OVER_10000),
        ((0, 0, 10_001), Revert.BPS_OVER_10000),
    ],
)
def test_set_params_refuses_out_of_range_values(params, reason, market, owner):
    with ape.reverts(reason):
        market.set_params(*params, sender=owner)


def test_the_fee_cap_itself_is_allowed(market, owner):
    assert market.FEE_CAP_BPS() == 1_000
    market.set_params(1_000, 10_000, 10_000, sender=owner)
    assert market.params() == (1, 1_000, 10_000, 10_000)


def test_parameter_versions_stop_at_the_11_bit_limit(market, owner, jobs):
    jobs.post()
    stored = int.from_bytes(chain.provider.get_storage(market.address, GLOBAL_SLOT), "big")
    # The slot really is the global slot: it holds the job count and the version.
    assert stored & (2**64 - 1) == market.job_count() == 1
    assert (stored >> VERSION_SHIFT) & (2**11 - 1) == market.params()[0] == 0

    at_limit = stored | ((2**11 - 2) << VERSION_SHIFT)
    chain.provider.make_request(
        "anvil_setStorageAt", [market.address, hex(GLOBAL_SLOT), f"0x{at_limit:064x}"]
    )
    market.set_params(0, 0, 0, sender=owner)
    assert market.params()[0] == 2**11 - 1
    with ape.reverts(Revert.PARAMS_VERSION_LIMIT):
        market.set_params(0, 0, 0, sender=owner)


# ---------------------------------------------------------------- no access to money


@pytest.mark.parametrize(
    ("function", "state", "args", "reason"),
    [
        ("cancel", JobState.OPEN, (), Revert.NOT_REQUESTER),
        ("accept", JobState.SUBMITTED, (), Revert.NOT_REQUESTER),
        ("dispute", JobState.SUBMITTED, (), Revert.NOT_REQUESTER),
        ("resolve", JobState.DISPUTED, (0,), Revert.NOT_ARBITER),
        ("abandon", JobState.CLAIMED, (), Revert.NOT_CLAIMER),
        ("submit_result", JobState.CLAIMED, (digest("forged"),), Revert.NOT_CLAIMER),
    ],
)
def test_the_owner_cannot_move_a_jobs_escrow(function, state, args, reason, market, jobs, owner):
    job_id = jobs.in_state(state)
    with ape.reverts(reason):
        getattr(market, function)(job_id, *args, sender=owner)


def test_the_owner_cannot_take_stakes_or_credits(market, jobs, owner):
    with ape.reverts(Revert.AMOUNT_EXCEEDS_FREE_STAKE):
        market.withdraw_stake(1, sender=owner)
    with ape.reverts(Revert.NOTHING_TO_WITHDRAW):
        market.withdraw(sender=owner)


def test_the_only_state_changing_functions_are_the_specified_ones(market):
    """No hidden owner function can move escrow, stakes or credits: the write surface is fixed."""
    writes = {abi.name for abi in market.contract_type.mutable_methods}
    assert writes == {
        "post_job", "post_job_token", "post_job_permit", "cancel", "accept", "dispute",
        "register", "deposit_stake", "deposit_stake_token", "withdraw_stake",
        "claim", "abandon", "submit_result", "finalize",
        "reclaim", "close_dispute", "resolve", "withdraw",
        "set_params", "set_fee_recipient", "pause", "unpause",
        "transfer_ownership", "accept_ownership",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("set_params", (0, 0, 0)),
        ("set_fee_recipient", ("0x000000000000000000000000000000000000dEaD",)),
        ("pause", ()),
        ("transfer_ownership", ("0x000000000000000000000000000000000000dEaD",)),
    ],
)
def test_owner_functions_refuse_everyone_else(function, args, market, stranger, arbiter):
    for account in (stranger, arbiter):
        with ape.reverts(Revert.NOT_OWNER):
            getattr(market, function)(*args, sender=account)


# ---------------------------------------------------------------- pause


def test_pause_stops_posts_and_claims(market, jobs, owner, provider):
    open_job = jobs.post()
    receipt = market.pause(sender=owner)
    assert only(receipt.events.filter(market.Paused)).account == owner.address
    assert market.paused() is True

    with ape.reverts(Revert.PAUSED):
        jobs.post()
    with ape.reverts(Revert.PAUSED):
        market.claim(open_job, sender=provider)

    receipt = market.unpause(sender=owner)
    assert only(receipt.events.filter(market.Unpaused)).account == owner.address
    market.claim(open_job, sender=provider)
    jobs.post()


def test_every_exit_keeps_working_while_paused(
    market, jobs, owner, requester, provider, arbiter, stranger
):
    to_cancel = jobs.post()
    to_reclaim = jobs.post(claim_window=5)
    to_abandon = jobs.claimed()
    to_submit = jobs.claimed()
    to_accept = jobs.submitted()
    to_finalize = jobs.submitted()
    to_dispute = jobs.submitted()
    to_resolve = jobs.disputed()
    to_close = jobs.disputed()
    market.set_params(100, COLLATERAL_BPS, ABANDON_SLASH_BPS, sender=owner)
    to_accept_with_fee = jobs.submitted()
    market.pause(sender=owner)

    market.cancel(to_cancel, sender=requester)
    market.abandon(to_abandon, sender=provider)
    market.submit_result(to_submit, digest("result"), sender=provider)
    market.accept(to_accept, sender=requester)
    market.accept(to_accept_with_fee, sender=requester)
    market.dispute(to_dispute, sender=requester)
    market.resolve(to_resolve, 10_000, sender=arbiter)
    set_next_timestamp(market.get_job(to_close).deadline + 1)
    market.reclaim(to_reclaim, sender=stranger)
    market.finalize(to_finalize, sender=stranger)
    market.close_dispute(to_close, sender=stranger)
    market.withdraw(sender=owner)
    market.withdraw_stake(1, sender=provider)

    settled = {
        to_cancel: JobState.CANCELED,
        to_reclaim: JobState.EXPIRED,
        to_abandon: JobState.OPEN,
        to_submit: JobState.SUBMITTED,
        to_accept: JobState.ACCEPTED,
        to_finalize: JobState.ACCEPTED,
        to_dispute: JobState.DISPUTED,
        to_resolve: JobState.RESOLVED,
        to_close: JobState.RESOLVED,
    }
    assert {job_id: jobs.state(job_id) for job_id in settled} == settled


def test_pause_and_unpause_refuse_a_repeat(market, owner):
    with ape.reverts(Revert.NOT_PAUSED):
        market.unpause(sender=owner)
    market.pause(sender=owner)
    with ape.reverts(Revert.ALREADY_PAUSED):
        market.pause(sender=owner)


# ---------------------------------------------------------------- ownership


def test_ownership_moves_only_when_the_new_owner_accepts(market, owner, stranger, arbiter):
    receipt = market.transfer_ownership(stranger, sender=owner)
    started = only(receipt.events.filter(market.OwnershipTransferStarted))
    assert (started.previous_owner, started.new_owner) == (owner.address, stranger.address)
    assert (market.owner(), market.pending_owner()) == (owner.address, stranger.address)

    with ape.reverts(Revert.NOT_PENDING_OWNER):
        market.accept_ownership(sender=arbiter)
    receipt = market.accept_ownership(sender=stranger)
    transferred = only(receipt.events.filter(market.OwnershipTransferred))
    assert (transferred.previous_owner, transferred.new_owner) == (owner.address, stranger.address)
    assert (market.owner(), market.pending_owner()) == (stranger.address, ZERO_ADDRESS)

    with ape.reverts(Revert.NOT_OWNER):
        market.pause(sender=owner)
    market.pause(sender=stranger)


def test_a_pending_transfer_can_be_withdrawn(market, owner, stranger):
    market.transfer_ownership(stranger, sender=owner)
    market.transfer_ownership(ZERO_ADDRESS, sender=owner)
    with ape.reverts(Revert.NOT_PENDING_OWNER):
        market.accept_ownership(sender=stranger)
    assert market.owner() == owner.address


# ---------------------------------------------------------------- fee recipient


def test_fees_go_to_the_new_fee_recipient(market, jobs, owner, requester, stranger):
    receipt = market.set_fee_recipient(stranger, sender=owner)
    changed = only(receipt.events.filter(market.FeeRecipientChanged))
    assert (changed.previous_recipient, changed.new_recipient) == (owner.address, stranger.address)
    assert market.fee_recipient() == stranger.address

    market.set_params(1_000, COLLATERAL_BPS, ABANDON_SLASH_BPS, sender=owner)
    market.accept(jobs.submitted(), sender=requester)
    assert market.credits(stranger) == PRICE // 10
    assert market.credits(owner) == 0
    with ape.reverts(Revert.ZERO_ADDRESS):
        market.set_fee_recipient(ZERO_ADDRESS, sender=owner)


# ---------------------------------------------------------------- deployment


def test_a_new_market_starts_with_the_deployer_in_charge(market, owner, arbiter):
    assert market.owner() == owner.address
    assert market.pending_owner() == ZERO_ADDRESS
    assert market.fee_recipient() == owner.address
    assert market.arbiter() == arbiter.address
    assert market.arbiter_window() == ARBITER_WINDOW
    assert market.paused() is False
    assert market.job_count() == 0
    assert market.PUSH_GAS_STIPEND() == 30_000
    assert market.TOKEN_PUSH_GAS() == 100_000
    assert (market.token(), market.price_unit()) == (ZERO_ADDRESS, 10**9)  # ETH, whole gwei


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((ZERO_ADDRESS, ARBITER_WINDOW, 0, 0), Revert.ZERO_ADDRESS),
        (("arbiter", 0, 0, 0), Revert.ARBITER_WINDOW_OUT_OF_RANGE),
        (("arbiter", 2**24, 0, 0), Revert.ARBITER_WINDOW_OUT_OF_RANGE),
        (("arbiter", ARBITER_WINDOW, 10_001, 0), Revert.BPS_OVER_10000),
        (("arbiter", ARBITER_WINDOW, 0, 10_001), Revert.BPS_OVER_10000),
    ],
)
def test_the_constructor_refuses_bad_settings(args, reason, job_market_container, owner, arbiter):
    args = tuple(arbiter if arg == "arbiter" else arg for arg in args)
    with ape.reverts(reason):
        owner.deploy(job_market_container, *args, ZERO_ADDRESS)
