"""Requester-side failures, and what a contract refusal means for the person who hit it.

The requester tools check every action before signing (state, sender, deadlines, funds), so a
refusal by the contract is rare: it means the chain moved between the check and the send. Its
reason string is then turned into the same kind of advice the pre-checks give.
"""

from __future__ import annotations

from jobmarket.chain.client import TransactionRefused
from jobmarket.chain.reasons import Revert
from jobmarket.errors import UserError


class ActionNotAllowed(UserError):
    """The action is not possible in the job's current state, for this account, or right now."""


class InsufficientFunds(UserError):
    """The account cannot pay the price and the gas of a transaction."""


# What to do after the contract refused a requester transaction, by revert reason.
_ADVICE = {
    Revert.PAUSED: "the market is paused by its owner; try again later",
    Revert.UNKNOWN_JOB: "check the job id (`requester jobs` lists yours)",
    Revert.JOB_NOT_OPEN: "it was claimed or settled meanwhile; see `requester status`",
    Revert.JOB_NOT_SUBMITTED: "no result is waiting for review; see `requester status`",
    Revert.JOB_NOT_RECLAIMABLE: "only open or claimed jobs past their deadline can be reclaimed",
    Revert.NOT_REQUESTER: "only the account that posted the job can do this; check --account",
    Revert.REVIEW_WINDOW_CLOSED: "the result can no longer be disputed; it will be finalized",
    Revert.CLAIM_DEADLINE_NOT_PASSED: "wait until the claim deadline has passed",
    Revert.WORK_DEADLINE_NOT_PASSED: "wait until the work deadline has passed",
    Revert.PRICE_IS_ZERO: "give a price above zero",
    Revert.PRICE_NOT_WHOLE_GWEI: "give a whole number of gwei",
    Revert.PRICE_TOO_HIGH: "give a lower price",
    Revert.CLAIM_DEADLINE_NOT_IN_FUTURE: "give a longer --claim-within",
    Revert.CLAIM_DEADLINE_TOO_FAR: "give a shorter --claim-within",
    Revert.WORK_TIMEOUT_OUT_OF_RANGE: "give a --work-timeout between 1s and 194d",
    Revert.REVIEW_WINDOW_OUT_OF_RANGE: "give a --review-window between 1s and 194d",
    Revert.DESIGNATED_IS_REQUESTER: "designate another account than your own",
    Revert.TOKEN_FEE_ON_TRANSFER: (
        "the market's token keeps a fee on every transfer, so the market would receive less "
        "than the price; this market cannot take jobs in it"
    ),
    Revert.TOKEN_TRANSFER_FAILED: (
        "the token refused to move the price (balance, allowance or a blocked account; "
        "`requester estimate` shows your balance)"
    ),
}


def explain_refusal(err: TransactionRefused) -> UserError:
    """A refusal with advice on what to do next (the message keeps the contract's reason)."""
    advice = _ADVICE.get(err.reason)  # type: ignore[call-overload]
    if advice is None:
        return err
    refused = ActionNotAllowed(err.problem, advice)
    refused.__cause__ = err
    return refused
