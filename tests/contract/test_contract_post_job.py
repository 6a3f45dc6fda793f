"""A job's terms are checked at post, each bad term with its own reason; a good job is stored."""

import ape
import pytest
from contract_helpers import (
    PRICE,
    REVIEW_WINDOW,
    WORK_TIMEOUT,
    ZERO_ADDRESS,
    digest,
    next_timestamp,
)

from jobmarket.chain.reasons import Revert
from jobmarket.chain.units import MAX_PRICE_WEI, WEI_PER_GWEI

MAX_UINT32 = 2**32 - 1
MAX_UINT24 = 2**24 - 1


def post(market, sender, value=PRICE, **overrides):
    now = next_timestamp()
    args = {
        "spec_digest": digest("spec"),
        "designated": ZERO_ADDRESS,
        "claim_deadline": now + 3_600,
        "work_timeout": WORK_TIMEOUT,
        "review_window": REVIEW_WINDOW,
    }
    args.update(overrides)
    return market.post_job(*args.values(), sender=sender, value=value)


@pytest.mark.parametrize(
    ("value", "overrides", "reason"),
    [
        (0, {}, Revert.PRICE_IS_ZERO),
        (PRICE + 1, {}, Revert.PRICE_NOT_WHOLE_GWEI),
        (WEI_PER_GWEI - 1, {}, Revert.PRICE_NOT_WHOLE_GWEI),
        (PRICE, {"claim_deadline": MAX_UINT32 + 1}, Revert.CLAIM_DEADLINE_TOO_FAR),
        (PRICE, {"claim_deadline": 0}, Revert.CLAIM_DEADLINE_NOT_IN_FUTURE),
        (PRICE, {"work_timeout": 0}, Revert.WORK_TIMEOUT_OUT_OF_RANGE),
        (PRICE, {"work_timeout": MAX_UINT24 + 1}, Revert.WORK_TIMEOUT_OUT_OF_RANGE),
        (PRICE, {"review_window": 0}, Revert.REVIEW_WINDOW_OUT_OF_RANGE),
        (PRICE, {"review_window": MAX_UINT24 + 1}, Revert.REVIEW_WINDOW_OUT_OF_RANGE),
        (PRICE, {"spec_digest": b"\x00" * 32}, Revert.SPEC_DIGEST_IS_ZERO),
    ],
    ids=lambda v: str(v) if isinstance(v, Revert) else None,
)
def test_a_bad_term_is_refused_with_its_reason(value, overrides, reason, market, requester):
    with ape.reverts(reason):
        post(market, requester, value=value, **overrides)
    assert market.job_count() == 0


def test_a_requester_cannot_designate_itself(market, requester):
    with ape.reverts(Revert.DESIGNATED_IS_REQUESTER):
        post(market, requester, designated=requester.address)


def test_the_largest_terms_fit_their_fields(market, requester):
    post(
        market,
        requester,
        claim_deadline=MAX_UINT32,
        work_timeout=MAX_UINT24,
        review_window=MAX_UINT24,
    )
    job = market.get_job(0)
    assert (job.claim_deadline, job.work_timeout, job.review_window) == (
        MAX_UINT32,
        MAX_UINT24,
        MAX_UINT24,
    )
    assert job.price == PRICE


def test_the_largest_price_is_stored_exactly_and_one_gwei_more_is_refused(market, requester, chain):
    chain.provider.set_balance(requester.address, 2 * MAX_PRICE_WEI)
    with ape.reverts(Revert.PRICE_TOO_HIGH):
        post(market, requester, value=MAX_PRICE_WEI + WEI_PER_GWEI)
    post(market, requester, value=MAX_PRICE_WEI)
    assert market.get_job(0).price == MAX_PRICE_WEI


def test_the_smallest_price_is_one_gwei(market, requester):
    post(market, requester, value=WEI_PER_GWEI)
    assert market.get_job(0).price == WEI_PER_GWEI
