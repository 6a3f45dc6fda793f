"""Revert reasons of the JobMarket contract, spelled exactly as the contract spells them.

Tools compare a failed transaction's revert message with these constants to explain it to a
person. The table in ``docs/contract-spec.md`` says when each one happens; a test keeps the
contract, this module and that table in step.
"""

from enum import StrEnum


class Revert(StrEnum):
    """Every reason string the contract can revert with."""

    # Switches
    PAUSED = "paused"
    ALREADY_PAUSED = "already paused"
    NOT_PAUSED = "not paused"

    # Job lookup and state
    UNKNOWN_JOB = "unknown job"
    JOB_NOT_OPEN = "job not open"
    JOB_NOT_CLAIMED = "job not claimed"
    JOB_NOT_SUBMITTED = "job not submitted"
    JOB_NOT_DISPUTED = "job not disputed"
    JOB_NOT_RECLAIMABLE = "job not reclaimable"

    # Sender
    NOT_REQUESTER = "not requester"
    NOT_CLAIMER = "not claimer"
    NOT_ARBITER = "not arbiter"
    NOT_OWNER = "not owner"
    NOT_PENDING_OWNER = "not pending owner"
    NOT_REGISTERED = "not registered"
    NOT_DESIGNATED_PROVIDER = "not designated provider"
    REQUESTER_CANNOT_CLAIM = "requester cannot claim"

    # Deadlines
    CLAIM_DEADLINE_PASSED = "claim deadline passed"
    CLAIM_DEADLINE_NOT_PASSED = "claim deadline not passed"
    WORK_DEADLINE_PASSED = "work deadline passed"
    WORK_DEADLINE_NOT_PASSED = "work deadline not passed"
    REVIEW_WINDOW_OPEN = "review window open"
    REVIEW_WINDOW_CLOSED = "review window closed"
    ARBITER_DEADLINE_PASSED = "arbiter deadline passed"
    ARBITER_DEADLINE_NOT_PASSED = "arbiter deadline not passed"
    TIMESTAMP_OVERFLOW = "timestamp overflow"

    # Job terms (post_job)
    PRICE_IS_ZERO = "price is zero"
    PRICE_NOT_WHOLE_GWEI = "price not whole gwei"
    PRICE_TOO_HIGH = "price too high"
    CLAIM_DEADLINE_NOT_IN_FUTURE = "claim deadline not in future"
    CLAIM_DEADLINE_TOO_FAR = "claim deadline too far"
    WORK_TIMEOUT_OUT_OF_RANGE = "work timeout out of range"
    REVIEW_WINDOW_OUT_OF_RANGE = "review window out of range"
    SPEC_DIGEST_IS_ZERO = "spec digest is zero"
    DESIGNATED_IS_REQUESTER = "designated is requester"

    # Results and providers
    RESULT_DIGEST_IS_ZERO = "result digest is zero"
    CAPABILITIES_DIGEST_IS_ZERO = "capabilities digest is zero"
    STAKE_TOO_LOW = "stake too low"
    STAKE_TOO_HIGH = "stake too high"
    AMOUNT_IS_ZERO = "amount is zero"
    AMOUNT_EXCEEDS_FREE_STAKE = "amount exceeds free stake"

    # Money
    NOTHING_TO_WITHDRAW = "nothing to withdraw"
    TRANSFER_FAILED = "transfer failed"

    # Currency (ETH or the market's ERC-20 token)
    MARKET_PAYS_IN_A_TOKEN = "market pays in a token"
    MARKET_PAYS_IN_ETH = "market pays in ETH"
    TOKEN_TRANSFER_FAILED = "token transfer failed"
    TOKEN_FEE_ON_TRANSFER = "token fee on transfer"
    TOKEN_IS_NOT_A_CONTRACT = "token is not a contract"
    TOKEN_HAS_NO_DECIMALS = "token has no decimals"
    TOKEN_DECIMALS_ABOVE_18 = "token decimals above 18"

    # Owner and deployment
    BPS_OVER_10000 = "bps over 10000"
    FEE_ABOVE_CAP = "fee above cap"
    PARAMS_VERSION_LIMIT = "params version limit"
    UNKNOWN_PARAMS_VERSION = "unknown params version"
    ZERO_ADDRESS = "zero address"
    ARBITER_WINDOW_OUT_OF_RANGE = "arbiter window out of range"
