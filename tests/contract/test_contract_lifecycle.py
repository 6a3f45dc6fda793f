"""Every transition of a job moves the right money and reports it in its events."""

import ape
from ape import chain
from contract_helpers import (
    ARBITER_WINDOW,
    CLAIM_WINDOW,
    COLLATERAL,
    PRICE,
    REVIEW_WINDOW,
    SLASH_ON_ABANDON,
    STAKE,
    WORK_TIMEOUT,
    ZERO_ADDRESS,
    digest,
    fees,
    next_timestamp,
    only,
    set_next_timestamp,
)

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState


def block_time(receipt) -> int:
    return chain.blocks[receipt.block_number].timestamp


def test_post_job_escrows_the_price_and_announces_every_term(market, requester):
    balance_before = market.balance
    claim_deadline = next_timestamp() + CLAIM_WINDOW
    receipt = market.post_job(
        digest("spec"),
        ZERO_ADDRESS,
        claim_deadline,
        WORK_TIMEOUT,
        REVIEW_WINDOW,
        sender=requester,
        value=PRICE,
    )

    assert market.balance == balance_before + PRICE
    assert market.job_count() == 1
    posted = only(receipt.events.filter(market.JobPosted))
    assert posted.job_id == 0
    assert posted.requester == requester.address
    assert posted.designated == ZERO_ADDRESS
    assert posted.spec_digest == digest("spec")
    assert posted.price == PRICE
    assert posted.claim_deadline == claim_deadline
    assert posted.work_timeout == WORK_TIMEOUT
    assert posted.review_window == REVIEW_WINDOW
    assert posted.collateral == COLLATERAL

    job = market.get_job(0)
    assert job.requester == requester.address
    assert job.price == PRICE
    assert job.state == JobState.OPEN
    assert job.provider == ZERO_ADDRESS
    assert job.designated == ZERO_ADDRESS
    assert job.claim_deadline == claim_deadline
    assert job.deadline == claim_deadline
    assert (job.work_timeout, job.review_window) == (WORK_TIMEOUT, REVIEW_WINDOW)
    assert job.collateral == COLLATERAL
    assert (job.fee_bps, job.params_version) == (0, 0)


def test_job_ids_count_up_from_zero(jobs, market):
    assert [jobs.post() for _ in range(3)] == [0, 1, 2]
    assert market.job_count() == 3


def test_post_job_returns_the_new_id(market, jobs, requester):
    jobs.post()
    returned = market.post_job.call(
        digest("next"),
        ZERO_ADDRESS,
        next_timestamp() + CLAIM_WINDOW,
        WORK_TIMEOUT,
        REVIEW_WINDOW,
        sender=requester,
        value=PRICE,
    )
    assert returned == 1


def test_claim_locks_collateral_and_starts_the_work_timeout(market, jobs, provider):
    job_id = jobs.post()
    receipt = market.claim(job_id, sender=provider)

    claimed = only(receipt.events.filter(market.JobClaimed))
    assert claimed.claimer == provider.address
    assert claimed.work_deadline == block_time(receipt) + WORK_TIMEOUT
    assert claimed.collateral == COLLATERAL
    job = market.get_job(job_id)
    assert (job.state, job.provider, job.deadline) == (
        JobState.CLAIMED,
        provider.address,
        claimed.work_deadline,
    )
    info = market.provider_info(provider)
    assert (info.stake, info.locked) == (STAKE, COLLATERAL)


def test_submit_result_starts_the_review_window(market, jobs, provider):
    job_id = jobs.claimed()
    receipt = market.submit_result(job_id, digest("result"), sender=provider)

    submitted = only(receipt.events.filter(market.ResultSubmitted))
    assert submitted.claimer == provider.address
    assert submitted.result_digest == digest("result")
    assert submitted.review_deadline == block_time(receipt) + REVIEW_WINDOW
    job = market.get_job(job_id)
    assert (job.state, job.deadline) == (JobState.SUBMITTED, submitted.review_deadline)


def test_accept_credits_the_price_to_the_providers_stake(market, jobs, requester, provider):
    job_id = jobs.submitted()
    balance_before = market.balance
    receipt = market.accept(job_id, sender=requester)

    accepted = only(receipt.events.filter(market.JobAccepted))
    assert (accepted.claimer, accepted.payout, accepted.fee, accepted.by) == (
        provider.address,
        PRICE,
        0,
        requester.address,
    )
    assert jobs.state(job_id) is JobState.ACCEPTED
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.completed, info.slashed) == (STAKE + PRICE, 0, 1, 0)
    # The escrow became stake: nothing left the contract.
    assert market.balance == balance_before


def test_finalize_settles_like_accept_once_the_review_window_passed(
    market, jobs, provider, stranger
):
    job_id = jobs.submitted()
    set_next_timestamp(jobs.deadline(job_id) + 1)
    receipt = market.finalize(job_id, sender=stranger)

    accepted = only(receipt.events.filter(market.JobAccepted))
    assert (accepted.payout, accepted.by) == (PRICE, stranger.address)
    assert jobs.state(job_id) is JobState.ACCEPTED
    assert market.provider_info(provider).stake == STAKE + PRICE


def test_cancel_refunds_the_price(market, jobs, requester):
    job_id = jobs.post()
    balance_before = requester.balance
    receipt = market.cancel(job_id, sender=requester)

    assert only(receipt.events.filter(market.JobCanceled)).refund == PRICE
    paid = only(receipt.events.filter(market.Paid))
    assert (paid.account, paid.job_id, paid.amount) == (requester.address, job_id, PRICE)
    assert requester.balance == balance_before + PRICE - fees(receipt)
    assert jobs.state(job_id) is JobState.CANCELED


def test_dispute_gives_the_arbiter_its_window(market, jobs, requester):
    job_id = jobs.submitted()
    receipt = market.dispute(job_id, sender=requester)

    disputed = only(receipt.events.filter(market.JobDisputed))
    assert disputed.arbiter_deadline == block_time(receipt) + ARBITER_WINDOW
    job = market.get_job(job_id)
    assert (job.state, job.deadline) == (JobState.DISPUTED, disputed.arbiter_deadline)


def test_resolve_in_full_for_the_provider_counts_a_completion(
    market, jobs, arbiter, requester, provider
):
    job_id = jobs.disputed()
    balance_before = requester.balance
    receipt = market.resolve(job_id, 10_000, sender=arbiter)

    resolved = only(receipt.events.filter(market.JobResolved))
    assert (resolved.to_provider, resolved.to_requester, resolved.slashed) == (PRICE, 0, 0)
    assert resolved.by_arbiter  # event booleans decode as 0/1
    assert not receipt.events.filter(market.Paid)
    assert requester.balance == balance_before
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.completed, info.slashed) == (STAKE + PRICE, 0, 1, 0)


def test_resolve_against_the_provider_slashes_its_collateral(
    market, jobs, arbiter, requester, provider
):
    job_id = jobs.disputed()
    balance_before = requester.balance
    receipt = market.resolve(job_id, 0, sender=arbiter)

    resolved = only(receipt.events.filter(market.JobResolved))
    assert (resolved.to_provider, resolved.to_requester, resolved.slashed) == (
        0,
        PRICE + COLLATERAL,
        COLLATERAL,
    )
    assert requester.balance == balance_before + PRICE + COLLATERAL
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.completed, info.slashed) == (
        STAKE - COLLATERAL,
        0,
        0,
        1,
    )


def test_resolve_split_pays_both_sides_and_releases_the_collateral(
    market, jobs, arbiter, requester, provider
):
    job_id = jobs.disputed()
    balance_before = requester.balance
    receipt = market.resolve(job_id, 6_000, sender=arbiter)

    resolved = only(receipt.events.filter(market.JobResolved))
    assert resolved.provider_bps == 6_000
    assert (resolved.to_provider, resolved.to_requester) == (PRICE * 6 // 10, PRICE * 4 // 10)
    assert requester.balance == balance_before + PRICE * 4 // 10
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.completed, info.slashed) == (
        STAKE + PRICE * 6 // 10,
        0,
        0,
        0,
    )
    assert jobs.state(job_id) is JobState.RESOLVED


def test_close_dispute_splits_evenly_when_the_arbiter_stays_silent(
    market, jobs, requester, provider, stranger
):
    job_id = jobs.disputed()
    balance_before = requester.balance
    set_next_timestamp(jobs.deadline(job_id) + 1)
    receipt = market.close_dispute(job_id, sender=stranger)

    resolved = only(receipt.events.filter(market.JobResolved))
    assert (resolved.provider_bps, resolved.by_arbiter) == (5_000, False)
    assert (resolved.to_provider, resolved.to_requester, resolved.slashed) == (
        PRICE // 2,
        PRICE // 2,
        0,
    )
    assert requester.balance == balance_before + PRICE // 2
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.completed, info.slashed) == (
        STAKE + PRICE // 2,
        0,
        0,
        0,
    )


def test_reclaim_of_an_unclaimed_job_refunds_the_price(market, jobs, requester, stranger):
    job_id = jobs.post()
    balance_before = requester.balance
    set_next_timestamp(jobs.deadline(job_id) + 1)
    receipt = market.reclaim(job_id, sender=stranger)

    expired = only(receipt.events.filter(market.JobExpired))
    assert (expired.refund, expired.slashed) == (PRICE, 0)
    assert requester.balance == balance_before + PRICE
    assert jobs.state(job_id) is JobState.EXPIRED


def test_reclaim_of_a_late_claim_pays_the_collateral_to_the_requester(
    market, jobs, requester, provider, stranger
):
    job_id = jobs.claimed()
    balance_before = requester.balance
    set_next_timestamp(jobs.deadline(job_id) + 1)
    receipt = market.reclaim(job_id, sender=stranger)

    expired = only(receipt.events.filter(market.JobExpired))
    assert (expired.refund, expired.slashed) == (PRICE, COLLATERAL)
    assert requester.balance == balance_before + PRICE + COLLATERAL
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.slashed) == (STAKE - COLLATERAL, 0, 1)


def test_abandon_reopens_the_job_for_another_provider(market, jobs, requester, provider, provider2):
    job_id = jobs.claimed()
    claim_deadline = market.get_job(job_id).claim_deadline
    balance_before = requester.balance
    receipt = market.abandon(job_id, sender=provider)

    abandoned = only(receipt.events.filter(market.JobAbandoned))
    assert (abandoned.claimer, abandoned.slashed, abandoned.reopened) == (
        provider.address,
        SLASH_ON_ABANDON,
        True,
    )
    assert not receipt.events.filter(market.JobExpired)
    assert requester.balance == balance_before + SLASH_ON_ABANDON
    info = market.provider_info(provider)
    assert (info.stake, info.locked, info.slashed) == (STAKE - SLASH_ON_ABANDON, 0, 0)
    job = market.get_job(job_id)
    assert (job.state, job.provider, job.deadline) == (
        JobState.OPEN,
        ZERO_ADDRESS,
        claim_deadline,
    )

    market.claim(job_id, sender=provider2)
    assert market.get_job(job_id).provider == provider2.address


def test_abandon_after_the_claim_deadline_expires_the_job(market, jobs, requester, provider):
    job_id = jobs.claimed(claim_window=10)
    set_next_timestamp(market.get_job(job_id).claim_deadline + 1)
    balance_before = requester.balance
    receipt = market.abandon(job_id, sender=provider)

    assert not only(receipt.events.filter(market.JobAbandoned)).reopened
    expired = only(receipt.events.filter(market.JobExpired))
    assert (expired.refund, expired.slashed) == (PRICE, 0)
    assert requester.balance == balance_before + PRICE + SLASH_ON_ABANDON
    assert jobs.state(job_id) is JobState.EXPIRED
    assert market.provider_info(provider).locked == 0


def test_a_designated_job_stays_designated_after_an_abandon(market, jobs, provider, provider2):
    job_id = jobs.post(designated=provider2.address)
    job = market.get_job(job_id)
    assert (job.designated, job.provider) == (provider2.address, ZERO_ADDRESS)

    market.claim(job_id, sender=provider2)
    job = market.get_job(job_id)
    assert (job.designated, job.provider) == (provider2.address, provider2.address)

    market.abandon(job_id, sender=provider2)
    job = market.get_job(job_id)
    assert (job.state, job.designated, job.provider) == (
        JobState.OPEN,
        provider2.address,
        ZERO_ADDRESS,
    )
    market.claim(job_id, sender=provider2)
    assert jobs.state(job_id) is JobState.CLAIMED


def test_a_fee_is_credited_to_the_fee_recipient(market, jobs, owner, requester, provider):
    market.set_params(250, 1_000, 2_000, sender=owner)
    job_id = jobs.submitted()
    receipt = market.accept(job_id, sender=requester)

    fee = PRICE * 250 // 10_000
    accepted = only(receipt.events.filter(market.JobAccepted))
    assert (accepted.payout, accepted.fee) == (PRICE - fee, fee)
    credited = only(receipt.events.filter(market.Credited))
    assert (credited.account, credited.job_id, credited.amount) == (owner.address, job_id, fee)
    assert market.credits(owner) == fee
    assert market.provider_info(provider).stake == STAKE + PRICE - fee

    balance_before = owner.balance
    receipt = market.withdraw(sender=owner)
    assert only(receipt.events.filter(market.Withdrawn)).amount == fee
    assert owner.balance == balance_before + fee - fees(receipt)
    assert market.credits(owner) == 0


def test_a_fee_applies_to_the_providers_share_of_a_split(market, jobs, owner, arbiter, provider):
    market.set_params(1_000, 1_000, 2_000, sender=owner)
    job_id = jobs.disputed()
    receipt = market.resolve(job_id, 6_000, sender=arbiter)

    gross = PRICE * 6 // 10
    fee = gross // 10
    resolved = only(receipt.events.filter(market.JobResolved))
    assert (resolved.to_provider, resolved.to_requester) == (gross - fee, PRICE - gross)
    assert market.credits(owner) == fee
    assert market.provider_info(provider).stake == STAKE + gross - fee


def test_losing_a_dispute_counts_as_slashed_even_without_collateral(
    market, jobs, owner, arbiter, provider
):
    market.set_params(0, 0, 0, sender=owner)
    job_id = jobs.disputed()
    receipt = market.resolve(job_id, 0, sender=arbiter)

    assert only(receipt.events.filter(market.JobResolved)).slashed == 0
    info = market.provider_info(provider)
    assert (info.stake, info.slashed, info.completed) == (STAKE, 1, 0)


def test_a_result_needs_a_digest(market, jobs, provider):
    job_id = jobs.claimed()
    with ape.reverts(Revert.RESULT_DIGEST_IS_ZERO):
        market.submit_result(job_id, b"\x00" * 32, sender=provider)
    assert jobs.state(job_id) is JobState.CLAIMED
