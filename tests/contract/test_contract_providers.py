"""Providers register, stake, and withdraw only the stake no claimed job holds."""

import ape
from contract_helpers import COLLATERAL, PRICE, STAKE, digest, fees, only

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState


def test_register_with_a_stake(market, stranger):
    receipt = market.register(digest("caps"), sender=stranger, value=STAKE)

    registered = only(receipt.events.filter(market.ProviderRegistered))
    assert (registered.account, registered.capabilities) == (stranger.address, digest("caps"))
    deposited = only(receipt.events.filter(market.StakeDeposited))
    assert (deposited.amount, deposited.stake) == (STAKE, STAKE)
    info = market.provider_info(stranger)
    assert (info.stake, info.locked, info.completed, info.slashed, info.registered) == (
        STAKE,
        0,
        0,
        0,
        True,
    )


def test_registering_again_updates_the_capabilities_and_keeps_the_record(market, jobs, provider):
    job_id = jobs.submitted()
    market.accept(job_id, sender=jobs.requester)
    receipt = market.register(digest("new caps"), sender=provider)

    assert only(receipt.events.filter(market.ProviderRegistered)).capabilities == digest("new caps")
    assert not receipt.events.filter(market.StakeDeposited)
    info = market.provider_info(provider)
    assert (info.stake, info.completed, info.registered) == (STAKE + PRICE, 1, True)


def test_register_needs_a_capability_digest(market, stranger):
    with ape.reverts(Revert.CAPABILITIES_DIGEST_IS_ZERO):
        market.register(b"\x00" * 32, sender=stranger)


def test_a_registered_provider_without_stake_can_claim_a_job_without_collateral(
    market, jobs, owner, stranger
):
    market.set_params(0, 0, 0, sender=owner)
    market.register(digest("caps"), sender=stranger)
    job_id = jobs.post()
    market.claim(job_id, sender=stranger)
    assert jobs.state(job_id) is JobState.CLAIMED


def test_deposit_stake_adds_to_the_stake(market, provider):
    receipt = market.deposit_stake(sender=provider, value=3)
    deposited = only(receipt.events.filter(market.StakeDeposited))
    assert (deposited.account, deposited.amount, deposited.stake) == (
        provider.address,
        3,
        STAKE + 3,
    )
    assert market.provider_info(provider).stake == STAKE + 3


def test_deposit_stake_needs_registration_and_an_amount(market, provider, stranger):
    with ape.reverts(Revert.NOT_REGISTERED):
        market.deposit_stake(sender=stranger, value=1)
    with ape.reverts(Revert.AMOUNT_IS_ZERO):
        market.deposit_stake(sender=provider)


def test_withdraw_stake_pays_out_free_stake(market, provider):
    balance_before = provider.balance
    receipt = market.withdraw_stake(STAKE // 4, sender=provider)

    withdrawn = only(receipt.events.filter(market.StakeWithdrawn))
    assert (withdrawn.account, withdrawn.amount, withdrawn.stake) == (
        provider.address,
        STAKE // 4,
        STAKE - STAKE // 4,
    )
    assert provider.balance == balance_before + STAKE // 4 - fees(receipt)
    assert market.provider_info(provider).stake == STAKE - STAKE // 4


def test_locked_collateral_cannot_be_withdrawn(market, jobs, provider):
    jobs.claimed()
    free = STAKE - COLLATERAL
    with ape.reverts(Revert.AMOUNT_EXCEEDS_FREE_STAKE):
        market.withdraw_stake(free + 1, sender=provider)
    market.withdraw_stake(free, sender=provider)
    info = market.provider_info(provider)
    assert (info.stake, info.locked) == (COLLATERAL, COLLATERAL)


def test_withdraw_stake_needs_an_amount_and_a_stake(market, provider, stranger):
    with ape.reverts(Revert.AMOUNT_IS_ZERO):
        market.withdraw_stake(0, sender=provider)
    with ape.reverts(Revert.AMOUNT_EXCEEDS_FREE_STAKE):
        market.withdraw_stake(1, sender=stranger)


def test_claim_needs_free_stake_for_the_collateral(market, jobs, provider):
    market.withdraw_stake(STAKE - COLLATERAL + 1, sender=provider)
    job_id = jobs.post()
    with ape.reverts(Revert.STAKE_TOO_LOW):
        market.claim(job_id, sender=provider)
    market.deposit_stake(sender=provider, value=1)
    market.claim(job_id, sender=provider)
    assert market.provider_info(provider).locked == COLLATERAL


def test_collateral_of_several_claims_adds_up(market, jobs, provider):
    for _ in range(3):
        jobs.claimed()
    assert market.provider_info(provider).locked == 3 * COLLATERAL
    with ape.reverts(Revert.AMOUNT_EXCEEDS_FREE_STAKE):
        market.withdraw_stake(STAKE - 3 * COLLATERAL + 1, sender=provider)


def test_a_stake_above_96_bits_is_refused(market, stranger, chain):
    chain.provider.set_balance(stranger.address, 2**97)
    with ape.reverts(Revert.STAKE_TOO_HIGH):
        market.register(digest("caps"), sender=stranger, value=2**96)
    market.register(digest("caps"), sender=stranger, value=2**96 - 1)
    with ape.reverts(Revert.STAKE_TOO_HIGH):
        market.deposit_stake(sender=stranger, value=1)


def test_designated_and_self_claims_are_refused(market, jobs, requester, provider, provider2):
    job_id = jobs.post(designated=provider2.address)
    with ape.reverts(Revert.NOT_DESIGNATED_PROVIDER):
        market.claim(job_id, sender=provider)

    market.register(digest("requester caps"), sender=requester, value=STAKE)
    own_job = jobs.post()
    with ape.reverts(Revert.REQUESTER_CANNOT_CLAIM):
        market.claim(own_job, sender=requester)
