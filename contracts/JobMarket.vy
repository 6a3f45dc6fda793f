# pragma version 0.4.3
# pragma nonreentrancy on
# pragma evm-version prague
"""
@title JobMarket
@license Apache-2.0
@notice The coordinator of a compute marketplace. Requesters post jobs (a digest of
        the job spec) and escrow the price; staked providers claim them, run them off
        chain and submit the digest of the result; the requester accepts or disputes,
        and an arbiter settles disputes. Every state has a deadline and an exit that
        someone can trigger, so no party can lock another's money.
@dev Design notes (full specification: docs/contract-spec.md):
     - Storage is packed by hand (see modules/packing.vy): two slots per job, one
       per provider, one global slot.
     - Every external function and getter holds the global reentrancy lock
       (`pragma nonreentrancy on`, transient storage).
     - Checks run in a fixed order: paused, unknown job, state, sender, deadline,
       arguments and amounts; each failure has its own short reason string.
     - Payouts to requesters are pushed with a bounded gas stipend; a receiver that
       reverts or runs out of gas gets a credit instead (`withdraw`), so no receiver
       can block a settlement. A provider's payout is added to its stake (any part
       over the stake field's width is credited instead).
     - Parameters are versioned; each job keeps the version current at its post,
       so an owner's change applies to future jobs only.
     - One currency per market, fixed at deployment: ETH (token = zero address) or
       one ERC-20 token. Every amount (prices, stakes, credits) is in that currency's
       smallest unit. Token calls accept a missing boolean (USDT-style), treat a
       `false` or a revert as a failure, and refuse a token that takes a fee on
       transfer (the amount received is checked).
"""

from .modules import ownable_2step as ownable
from .modules import packing

initializes: ownable

exports: (
    ownable.owner,
    ownable.pending_owner,
    ownable.transfer_ownership,
    ownable.accept_ownership,
)


# ------------------------------------------------------------------ constants

# Job states (the value stored in slot B). NONEXISTENT means the job does not exist.
NONEXISTENT: constant(uint256) = 0
OPEN: constant(uint256) = 1
CLAIMED: constant(uint256) = 2
SUBMITTED: constant(uint256) = 3
DISPUTED: constant(uint256) = 4
ACCEPTED: constant(uint256) = 5
RESOLVED: constant(uint256) = 6
CANCELED: constant(uint256) = 7
EXPIRED: constant(uint256) = 8

MAX_BPS: constant(uint256) = 10_000
# The split of an expired dispute: half of the price to each side.
NEUTRAL_BPS: constant(uint256) = 5_000
# @notice Highest protocol fee the owner can set, in basis points of the payout.
FEE_CAP_BPS: public(constant(uint256)) = 1_000
# @notice Gas forwarded with a pushed payout; a receiver needing more is credited.
PUSH_GAS_STIPEND: public(constant(uint256)) = 30_000
# @notice Gas forwarded to the token's `transfer` in a pushed token payout (a token that
#         needs more, or that refuses the receiver, leads to a credit instead).
TOKEN_PUSH_GAS: public(constant(uint256)) = 100_000
# ETH counts in wei (18 decimals), so an ETH market prices in whole gwei (10**9 wei).
ETH_DECIMALS: constant(uint256) = 18


# ------------------------------------------------------------------ types


struct Job:
    requester: address
    # Escrowed price, in wei.
    price: uint256
    state: uint8
    # The claimer; zero while the job is OPEN.
    provider: address
    # The only provider allowed to claim; zero for a job open to all.
    designated: address
    claim_deadline: uint256
    # Deadline of the current state (see docs/contract-spec.md, States).
    deadline: uint256
    work_timeout: uint256
    review_window: uint256
    # Stake a claim locks, in wei.
    collateral: uint256
    fee_bps: uint256
    params_version: uint256


struct ProviderInfo:
    stake: uint256
    locked: uint256
    completed: uint256
    slashed: uint256
    registered: bool


struct JobSlots:
    a: uint256
    b: uint256


# ------------------------------------------------------------------ events


event JobPosted:
    job_id: indexed(uint256)
    requester: indexed(address)
    designated: indexed(address)
    spec_digest: bytes32
    price: uint256
    claim_deadline: uint256
    work_timeout: uint256
    review_window: uint256
    collateral: uint256


event JobClaimed:
    job_id: indexed(uint256)
    claimer: indexed(address)
    work_deadline: uint256
    collateral: uint256


event JobAbandoned:
    job_id: indexed(uint256)
    claimer: indexed(address)
    slashed: uint256
    reopened: bool


event ResultSubmitted:
    job_id: indexed(uint256)
    claimer: indexed(address)
    result_digest: bytes32
    review_deadline: uint256


# @dev `payout` (price minus fee) is added to the claimer's stake; a part the stake
#      cannot hold (over 2**96 - 1 wei) is credited instead, announced in the same
#      transaction by StakeLimitReached and Credited.
event JobAccepted:
    job_id: indexed(uint256)
    claimer: indexed(address)
    payout: uint256
    fee: uint256
    # The requester (accept) or whoever called finalize.
    by: address


event JobDisputed:
    job_id: indexed(uint256)
    arbiter_deadline: uint256


# @dev `to_provider` is added to the claimer's stake (a part over 2**96 - 1 wei is
#      credited instead: StakeLimitReached and Credited); `to_requester` is pushed and
#      includes `slashed`.
event JobResolved:
    job_id: indexed(uint256)
    provider_bps: uint256
    to_provider: uint256
    to_requester: uint256
    slashed: uint256
    by_arbiter: bool


event JobCanceled:
    job_id: indexed(uint256)
    refund: uint256


event JobExpired:
    job_id: indexed(uint256)
    refund: uint256
    slashed: uint256


event Paid:
    account: indexed(address)
    job_id: indexed(uint256)
    amount: uint256


# @dev `amount` was added to `credits(account)`, to be pulled with `withdraw`: a push
#      the receiver refused, a protocol fee, or the part of a payout over the claimer's
#      stake limit (then preceded by StakeLimitReached).
event Credited:
    account: indexed(address)
    job_id: indexed(uint256)
    amount: uint256


# @dev A settlement would have taken `account`'s stake over 2**96 - 1 wei: the stake is
#      now `stake` (that limit) and `credited` wei of the payout went to its credits.
event StakeLimitReached:
    account: indexed(address)
    job_id: indexed(uint256)
    stake: uint256
    credited: uint256


event Withdrawn:
    account: indexed(address)
    amount: uint256


event ProviderRegistered:
    account: indexed(address)
    capabilities: bytes32


event StakeDeposited:
    account: indexed(address)
    amount: uint256
    stake: uint256


event StakeWithdrawn:
    account: indexed(address)
    amount: uint256
    stake: uint256


event ParamsChanged:
    version: indexed(uint256)
    fee_bps: uint256
    collateral_bps: uint256
    abandon_slash_bps: uint256


event FeeRecipientChanged:
    previous_recipient: indexed(address)
    new_recipient: indexed(address)


event Paused:
    account: indexed(address)


event Unpaused:
    account: indexed(address)


# ------------------------------------------------------------------ storage

# job_count | paused | params_version | params (packing.vy, global slot).
_global: uint256
# Parameters of every version, so old jobs settle on the terms they were posted with.
_params_history: HashMap[uint256, uint256]
_jobs: HashMap[uint256, JobSlots]
_providers: HashMap[address, uint256]

# @notice Amounts owed to an account whose pushed payout failed, and protocol fees.
credits: public(HashMap[address, uint256])
# @notice The account credited with protocol fees.
fee_recipient: public(address)

ARBITER: immutable(address)
ARBITER_WINDOW: immutable(uint256)
# The ERC-20 token the market pays in; zero for ETH.
TOKEN: immutable(address)
# Smallest price step, in the currency's smallest unit: 10**(decimals - 9), at least 1
# (gwei for ETH and 18-decimal tokens, 1 for a 6-decimal token).
PRICE_UNIT: immutable(uint256)


@deploy
def __init__(
    arbiter: address,
    arbiter_window: uint256,
    collateral_bps: uint256,
    abandon_slash_bps: uint256,
    token: address,
):
    """
    @notice Deploy a market whose owner and fee recipient are the deployer, with a zero fee.
    @param arbiter The account that settles disputes (fixed for the market's life).
    @param arbiter_window Seconds the arbiter has to settle a dispute.
    @param collateral_bps Stake locked by a claim, in basis points of the price.
    @param abandon_slash_bps Share of the collateral an abandoning provider loses.
    @param token The ERC-20 token escrowed, staked and paid; zero address for ETH.
    """
    assert arbiter != empty(address), "zero address"
    assert arbiter_window != 0 and arbiter_window <= packing.MAX_DURATION, (
        "arbiter window out of range"
    )
    assert collateral_bps <= MAX_BPS and abandon_slash_bps <= MAX_BPS, "bps over 10000"
    decimals: uint256 = ETH_DECIMALS
    if token != empty(address):
        # A call to an address without code "succeeds" with no return data, which
        # would read as a successful USDT-style transfer: refuse such a token.
        assert token.is_contract, "token is not a contract"
        decimals = self._token_decimals(token)
    ownable.__init__()
    ARBITER = arbiter
    ARBITER_WINDOW = arbiter_window
    TOKEN = token
    unit: uint256 = 1
    if decimals > 9:
        unit = pow_mod256(10, decimals - 9)
    PRICE_UNIT = unit

    params: uint256 = packing.pack_params(0, collateral_bps, abandon_slash_bps)
    self._params_history[0] = params
    self._global = packing.pack_global(0, False, 0, params)
    log ParamsChanged(
        version=0, fee_bps=0, collateral_bps=collateral_bps, abandon_slash_bps=abandon_slash_bps
    )

    self.fee_recipient = msg.sender
    log FeeRecipientChanged(previous_recipient=empty(address), new_recipient=msg.sender)


# ------------------------------------------------------------------ requester


@external
@payable
def post_job(
    spec_digest: bytes32,
    designated: address,
    claim_deadline: uint256,
    work_timeout: uint256,
    review_window: uint256,
) -> uint256:
    """
    @notice Post a job and escrow its price (`msg.value`) until the job ends (ETH
            markets; a token market takes `post_job_token` or `post_job_permit`).
    @param spec_digest sha2-256 digest of the job spec (a raw-codec CIDv1 document).
    @param designated The only provider allowed to claim, or zero for anyone.
    @param claim_deadline Last second (unix time) at which the job can be claimed.
    @param work_timeout Seconds a claimer has to submit a result.
    @param review_window Seconds the requester has to review a result.
    @return The new job's id.
    """
    assert TOKEN == empty(address), "market pays in a token"
    return self._post(
        spec_digest, designated, claim_deadline, work_timeout, review_window, msg.value
    )


@external
def post_job_token(
    spec_digest: bytes32,
    designated: address,
    claim_deadline: uint256,
    work_timeout: uint256,
    review_window: uint256,
    price: uint256,
) -> uint256:
    """
    @notice Post a job in a token market: `price` is pulled from the caller with
            `transferFrom` (approve the market first) and escrowed until the job ends.
    @dev Same terms and checks as `post_job`; a token that delivers less than `price`
         (a fee on transfer) is refused.
    @return The new job's id.
    """
    assert TOKEN != empty(address), "market pays in ETH"
    job_id: uint256 = self._post(
        spec_digest, designated, claim_deadline, work_timeout, review_window, price
    )
    self._pull(msg.sender, price)
    return job_id


@external
def post_job_permit(
    spec_digest: bytes32,
    designated: address,
    claim_deadline: uint256,
    work_timeout: uint256,
    review_window: uint256,
    price: uint256,
    permit_deadline: uint256,
    v: uint8,
    r: bytes32,
    s: bytes32,
) -> uint256:
    """
    @notice `post_job_token` with an EIP-2612 permit (signed by the caller for this
            market, `price` and `permit_deadline`) instead of a separate approve.
    @dev The permit's own outcome is ignored: if someone submitted it first (front-
         running), the allowance it set is used all the same; without an allowance
         the transfer fails ("token transfer failed").
    @return The new job's id.
    """
    assert TOKEN != empty(address), "market pays in ETH"
    job_id: uint256 = self._post(
        spec_digest, designated, claim_deadline, work_timeout, review_window, price
    )
    # The permit's outcome is deliberately unused (see above): the pull decides.
    permitted: bool = raw_call(
        TOKEN,
        abi_encode(
            msg.sender,
            self,
            price,
            permit_deadline,
            v,
            r,
            s,
            method_id=method_id("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"),
        ),
        revert_on_failure=False,
    )
    self._pull(msg.sender, price)
    return job_id


@internal
def _post(
    spec_digest: bytes32,
    designated: address,
    claim_deadline: uint256,
    work_timeout: uint256,
    review_window: uint256,
    price: uint256,
) -> uint256:
    """
    @dev Checks a job's terms and records it; the caller collects the price.
    """
    g: uint256 = self._global
    assert not packing.paused(g), "paused"
    assert price != 0, "price is zero"
    assert price % PRICE_UNIT == 0, "price not whole gwei"
    assert price // PRICE_UNIT <= packing.MAX_PRICE_UNITS, "price too high"
    assert claim_deadline > block.timestamp, "claim deadline not in future"
    assert claim_deadline <= packing.MAX_TIMESTAMP, "claim deadline too far"
    assert work_timeout != 0 and work_timeout <= packing.MAX_DURATION, (
        "work timeout out of range"
    )
    assert review_window != 0 and review_window <= packing.MAX_DURATION, (
        "review window out of range"
    )
    assert spec_digest != empty(bytes32), "spec digest is zero"
    assert designated != msg.sender, "designated is requester"

    job_id: uint256 = packing.job_count(g)
    # job_count occupies the lowest bits; 2**64 posts cannot happen.
    self._global = g + 1
    self._jobs[job_id] = JobSlots(
        a=packing.pack_a(msg.sender, price // PRICE_UNIT, claim_deadline),
        b=packing.pack_b(
            designated,
            OPEN,
            designated != empty(address),
            claim_deadline,
            work_timeout,
            review_window,
            packing.global_version(g),
        ),
    )
    log JobPosted(
        job_id=job_id,
        requester=msg.sender,
        designated=designated,
        spec_digest=spec_digest,
        price=price,
        claim_deadline=claim_deadline,
        work_timeout=work_timeout,
        review_window=review_window,
        collateral=price * packing.collateral_bps(packing.global_params(g)) // MAX_BPS,
    )
    return job_id


@external
def cancel(job_id: uint256):
    """
    @notice Withdraw an unclaimed job and get the price back.
    @param job_id The job, which must be OPEN.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == OPEN, "job not open"
    a: uint256 = self._jobs[job_id].a
    assert packing.requester(a) == msg.sender, "not requester"

    self._jobs[job_id].b = packing.with_transition(b, CANCELED, packing.deadline(b))
    refund: uint256 = self._price(a)
    log JobCanceled(job_id=job_id, refund=refund)
    self._push(msg.sender, job_id, refund)


@external
def accept(job_id: uint256):
    """
    @notice Accept a submitted result: the provider's stake is credited with the price
            minus the protocol fee, and its collateral is released.
    @param job_id The job, which must be SUBMITTED.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == SUBMITTED, "job not submitted"
    a: uint256 = self._jobs[job_id].a
    assert packing.requester(a) == msg.sender, "not requester"
    self._settle_accepted(job_id, a, b)


@external
def dispute(job_id: uint256):
    """
    @notice Reject a submitted result and ask the arbiter to settle the job.
    @param job_id The job, which must be SUBMITTED and within its review window.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == SUBMITTED, "job not submitted"
    assert packing.requester(self._jobs[job_id].a) == msg.sender, "not requester"
    assert block.timestamp <= packing.deadline(b), "review window closed"

    arbiter_deadline: uint256 = block.timestamp + ARBITER_WINDOW
    self._jobs[job_id].b = packing.with_transition(b, DISPUTED, arbiter_deadline)
    log JobDisputed(job_id=job_id, arbiter_deadline=arbiter_deadline)


# ------------------------------------------------------------------ provider


@external
@payable
def register(capabilities: bytes32):
    """
    @notice Register as a provider (or update the capability document) and add
            `msg.value` to the stake (ETH markets; in a token market send no value and
            stake with `deposit_stake_token`).
    @param capabilities sha2-256 digest of the capability document (raw-codec CIDv1).
    """
    assert msg.value == 0 or TOKEN == empty(address), "market pays in a token"
    assert capabilities != empty(bytes32), "capabilities digest is zero"
    p: uint256 = self._providers[msg.sender]
    stake: uint256 = packing.stake(p) + msg.value
    self._providers[msg.sender] = packing.pack_provider(
        stake, packing.locked(p), packing.completed(p), packing.slashed(p), True
    )
    log ProviderRegistered(account=msg.sender, capabilities=capabilities)
    if msg.value != 0:
        log StakeDeposited(account=msg.sender, amount=msg.value, stake=stake)


@external
@payable
def deposit_stake():
    """
    @notice Add `msg.value` to the caller's stake (ETH markets).
    """
    assert TOKEN == empty(address), "market pays in a token"
    p: uint256 = self._providers[msg.sender]
    assert packing.registered(p), "not registered"
    assert msg.value != 0, "amount is zero"
    stake: uint256 = packing.stake(p) + msg.value
    self._providers[msg.sender] = packing.pack_provider(
        stake, packing.locked(p), packing.completed(p), packing.slashed(p), True
    )
    log StakeDeposited(account=msg.sender, amount=msg.value, stake=stake)


@external
def deposit_stake_token(amount: uint256):
    """
    @notice Add `amount` tokens to the caller's stake, pulled with `transferFrom`
            (approve the market first). A fee-on-transfer token is refused.
    @param amount Token units to stake.
    """
    assert TOKEN != empty(address), "market pays in ETH"
    p: uint256 = self._providers[msg.sender]
    assert packing.registered(p), "not registered"
    assert amount != 0, "amount is zero"
    stake: uint256 = packing.stake(p) + amount
    self._providers[msg.sender] = packing.pack_provider(
        stake, packing.locked(p), packing.completed(p), packing.slashed(p), True
    )
    log StakeDeposited(account=msg.sender, amount=amount, stake=stake)
    self._pull(msg.sender, amount)


@external
def withdraw_stake(amount: uint256):
    """
    @notice Withdraw free stake (stake not locked by a claimed job), with all gas.
    @param amount Amount to withdraw (wei, or token units).
    """
    p: uint256 = self._providers[msg.sender]
    assert amount != 0, "amount is zero"
    assert amount <= packing.free_stake(p), "amount exceeds free stake"
    # free stake <= stake, so the subtraction only touches the stake field.
    self._providers[msg.sender] = p - amount
    log StakeWithdrawn(account=msg.sender, amount=amount, stake=packing.stake(p) - amount)
    self._send(msg.sender, amount)


@external
def claim(job_id: uint256):
    """
    @notice Take an open job: locks `collateral` of the caller's free stake and starts
            the work timeout. The first valid claim wins.
    @param job_id The job, which must be OPEN and before its claim deadline.
    """
    g: uint256 = self._global
    assert not packing.paused(g), "paused"
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == OPEN, "job not open"
    p: uint256 = self._providers[msg.sender]
    assert packing.registered(p), "not registered"
    if packing.is_designated(b):
        assert packing.account(b) == msg.sender, "not designated provider"
    a: uint256 = self._jobs[job_id].a
    assert packing.requester(a) != msg.sender, "requester cannot claim"
    assert block.timestamp <= packing.deadline(b), "claim deadline passed"

    params: uint256 = packing.global_params(g)
    if packing.version(b) != packing.global_version(g):
        params = self._params_history[packing.version(b)]
    collateral: uint256 = self._price(a) * packing.collateral_bps(params) // MAX_BPS
    assert collateral <= packing.free_stake(p), "stake too low"

    work_deadline: uint256 = block.timestamp + packing.work_timeout(b)
    self._jobs[job_id].b = packing.with_claimer(b, msg.sender, CLAIMED, work_deadline)
    self._providers[msg.sender] = packing.with_lock(p, collateral)
    log JobClaimed(
        job_id=job_id, claimer=msg.sender, work_deadline=work_deadline, collateral=collateral
    )


@external
def abandon(job_id: uint256):
    """
    @notice Give a claimed job back before its work deadline. The requester receives
            `abandon_slash_bps` of the collateral; the rest is released. The job is
            reopened if its claim deadline allows, else it expires and the price is
            refunded.
    @param job_id The job, which must be CLAIMED by the caller.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == CLAIMED, "job not claimed"
    assert packing.account(b) == msg.sender, "not claimer"
    assert block.timestamp <= packing.deadline(b), "work deadline passed"

    a: uint256 = self._jobs[job_id].a
    price: uint256 = self._price(a)
    params: uint256 = self._params_history[packing.version(b)]
    collateral: uint256 = price * packing.collateral_bps(params) // MAX_BPS
    slash: uint256 = collateral * packing.abandon_slash_bps(params) // MAX_BPS
    self._providers[msg.sender] = packing.released(
        self._providers[msg.sender], collateral, slash, 0
    )

    refund: uint256 = 0
    reopen: bool = block.timestamp <= packing.claim_deadline(a)
    if reopen:
        self._jobs[job_id].b = packing.reopened(b, OPEN, packing.claim_deadline(a))
    else:
        refund = price
        self._jobs[job_id].b = packing.with_transition(b, EXPIRED, packing.deadline(b))
    log JobAbandoned(job_id=job_id, claimer=msg.sender, slashed=slash, reopened=reopen)
    if not reopen:
        log JobExpired(job_id=job_id, refund=refund, slashed=0)
    self._push(packing.requester(a), job_id, refund + slash)


@external
def submit_result(job_id: uint256, result_digest: bytes32):
    """
    @notice Submit the result of a claimed job and start the requester's review window.
    @param job_id The job, which must be CLAIMED by the caller, before its work deadline.
    @param result_digest sha2-256 digest of the result directory (dag-pb CIDv1 root).
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == CLAIMED, "job not claimed"
    assert packing.account(b) == msg.sender, "not claimer"
    assert block.timestamp <= packing.deadline(b), "work deadline passed"
    assert result_digest != empty(bytes32), "result digest is zero"

    review_deadline: uint256 = block.timestamp + packing.review_window(b)
    self._jobs[job_id].b = packing.with_transition(b, SUBMITTED, review_deadline)
    log ResultSubmitted(
        job_id=job_id,
        claimer=msg.sender,
        result_digest=result_digest,
        review_deadline=review_deadline,
    )


# ------------------------------------------------------------------ anyone


@external
def finalize(job_id: uint256):
    """
    @notice Settle a submitted job as accepted once the review window has passed
            without a dispute.
    @param job_id The job, which must be SUBMITTED and past its review window.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == SUBMITTED, "job not submitted"
    assert block.timestamp > packing.deadline(b), "review window open"
    self._settle_accepted(job_id, self._jobs[job_id].a, b)


@external
def reclaim(job_id: uint256):
    """
    @notice Expire a job whose deadline passed: an unclaimed job past its claim
            deadline refunds the price; a claimed job past its work deadline refunds
            the price and pays the claimer's whole collateral to the requester.
    @param job_id The job, which must be OPEN or CLAIMED and past its deadline.
    """
    b: uint256 = self._slot_b(job_id)
    state: uint256 = packing.state(b)
    if state == OPEN:
        assert block.timestamp > packing.deadline(b), "claim deadline not passed"
    elif state == CLAIMED:
        assert block.timestamp > packing.deadline(b), "work deadline not passed"
    else:
        raise "job not reclaimable"

    a: uint256 = self._jobs[job_id].a
    price: uint256 = self._price(a)
    # A claimer that let the work deadline pass loses its whole collateral.
    slashed: uint256 = 0
    if state == CLAIMED:
        params: uint256 = self._params_history[packing.version(b)]
        slashed = price * packing.collateral_bps(params) // MAX_BPS
        claimer: address = packing.account(b)
        self._providers[claimer] = packing.released(self._providers[claimer], slashed, slashed, 1)
    self._jobs[job_id].b = packing.with_transition(b, EXPIRED, packing.deadline(b))
    log JobExpired(job_id=job_id, refund=price, slashed=slashed)
    self._push(packing.requester(a), job_id, price + slashed)


@external
def close_dispute(job_id: uint256):
    """
    @notice Settle a dispute the arbiter left open past its deadline with the neutral
            outcome: half of the price to each side, collateral released.
    @param job_id The job, which must be DISPUTED and past its arbiter deadline.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == DISPUTED, "job not disputed"
    assert block.timestamp > packing.deadline(b), "arbiter deadline not passed"
    self._settle_dispute(job_id, b, NEUTRAL_BPS, False)


# ------------------------------------------------------------------ arbiter


@external
def resolve(job_id: uint256, provider_bps: uint256):
    """
    @notice Settle a dispute: the provider gets `provider_bps` of the price (minus the
            fee) and the requester the rest. At 0 the provider's collateral is also
            paid to the requester; at 10,000 the job counts as completed.
    @param job_id The job, which must be DISPUTED and before its arbiter deadline.
    @param provider_bps The provider's share of the price, in basis points.
    """
    b: uint256 = self._slot_b(job_id)
    assert packing.state(b) == DISPUTED, "job not disputed"
    assert msg.sender == ARBITER, "not arbiter"
    assert block.timestamp <= packing.deadline(b), "arbiter deadline passed"
    assert provider_bps <= MAX_BPS, "bps over 10000"
    self._settle_dispute(job_id, b, provider_bps, True)


# ------------------------------------------------------------------ money


@external
def withdraw():
    """
    @notice Pay out the caller's credits (failed pushes, protocol fees), with all gas.
    """
    amount: uint256 = self.credits[msg.sender]
    assert amount != 0, "nothing to withdraw"
    self.credits[msg.sender] = 0
    log Withdrawn(account=msg.sender, amount=amount)
    self._send(msg.sender, amount)


# ------------------------------------------------------------------ owner


@external
def set_params(fee_bps: uint256, collateral_bps: uint256, abandon_slash_bps: uint256):
    """
    @notice Set the parameters of jobs posted from now on, as a new version.
    @param fee_bps Protocol fee, in basis points of a provider's payout.
    @param collateral_bps Stake a claim locks, in basis points of the price.
    @param abandon_slash_bps Share of the collateral an abandoning provider loses.
    """
    ownable._check_owner()
    assert fee_bps <= FEE_CAP_BPS, "fee above cap"
    assert collateral_bps <= MAX_BPS and abandon_slash_bps <= MAX_BPS, "bps over 10000"
    g: uint256 = self._global
    version: uint256 = packing.global_version(g) + 1
    assert version <= packing.MAX_PARAMS_VERSION, "params version limit"

    params: uint256 = packing.pack_params(fee_bps, collateral_bps, abandon_slash_bps)
    self._params_history[version] = params
    self._global = packing.pack_global(packing.job_count(g), packing.paused(g), version, params)
    log ParamsChanged(
        version=version,
        fee_bps=fee_bps,
        collateral_bps=collateral_bps,
        abandon_slash_bps=abandon_slash_bps,
    )


@external
def set_fee_recipient(account: address):
    """
    @notice Credit protocol fees to `account` from now on.
    @param account The new fee recipient.
    """
    ownable._check_owner()
    assert account != empty(address), "zero address"
    log FeeRecipientChanged(previous_recipient=self.fee_recipient, new_recipient=account)
    self.fee_recipient = account


@external
def pause():
    """
    @notice Stop new posts and claims; every exit from a running job keeps working.
    """
    ownable._check_owner()
    g: uint256 = self._global
    assert not packing.paused(g), "already paused"
    self._global = g | (1 << packing.G_PAUSED)
    log Paused(account=msg.sender)


@external
def unpause():
    """
    @notice Allow posts and claims again.
    """
    ownable._check_owner()
    g: uint256 = self._global
    assert packing.paused(g), "not paused"
    self._global = g & ~(1 << packing.G_PAUSED)
    log Unpaused(account=msg.sender)


# ------------------------------------------------------------------ views


@view
@external
def get_job(job_id: uint256) -> Job:
    """
    @notice A job's terms and current state.
    @param job_id The job; reverts with "unknown job" for ids not yet posted.
    """
    assert job_id < packing.job_count(self._global), "unknown job"
    slots: JobSlots = self._jobs[job_id]
    price: uint256 = self._price(slots.a)
    state: uint256 = packing.state(slots.b)
    params: uint256 = self._params_history[packing.version(slots.b)]

    provider: address = empty(address)
    designated: address = empty(address)
    if state != OPEN:
        provider = packing.account(slots.b)
    if packing.is_designated(slots.b):
        designated = packing.account(slots.b)
    return Job(
        requester=packing.requester(slots.a),
        price=price,
        state=convert(state, uint8),
        provider=provider,
        designated=designated,
        claim_deadline=packing.claim_deadline(slots.a),
        deadline=packing.deadline(slots.b),
        work_timeout=packing.work_timeout(slots.b),
        review_window=packing.review_window(slots.b),
        collateral=price * packing.collateral_bps(params) // MAX_BPS,
        fee_bps=packing.fee_bps(params),
        params_version=packing.version(slots.b),
    )


@view
@external
def job_count() -> uint256:
    """
    @notice Number of jobs ever posted; job ids run from 0 to job_count - 1.
    """
    return packing.job_count(self._global)


@view
@external
def provider_info(account: address) -> ProviderInfo:
    """
    @notice A provider's stake (wei, including locked), locked collateral (wei),
            completed and slashed job counts, and whether it is registered.
    @param account The provider.
    """
    p: uint256 = self._providers[account]
    return ProviderInfo(
        stake=packing.stake(p),
        locked=packing.locked(p),
        completed=packing.completed(p),
        slashed=packing.slashed(p),
        registered=packing.registered(p),
    )


@view
@external
def params() -> (uint256, uint256, uint256, uint256):
    """
    @notice The parameters new jobs get.
    @return version, fee_bps, collateral_bps, abandon_slash_bps
    """
    g: uint256 = self._global
    params: uint256 = packing.global_params(g)
    return (
        packing.global_version(g),
        packing.fee_bps(params),
        packing.collateral_bps(params),
        packing.abandon_slash_bps(params),
    )


@view
@external
def params_at(version: uint256) -> (uint256, uint256, uint256):
    """
    @notice The parameters of an earlier version (those its jobs settle with).
    @param version A version no newer than the current one.
    @return fee_bps, collateral_bps, abandon_slash_bps
    """
    assert version <= packing.global_version(self._global), "unknown params version"
    params: uint256 = self._params_history[version]
    return (
        packing.fee_bps(params), packing.collateral_bps(params), packing.abandon_slash_bps(params)
    )


@view
@external
def paused() -> bool:
    """
    @notice Whether posts and claims are stopped.
    """
    return packing.paused(self._global)


@view
@external
def arbiter() -> address:
    """
    @notice The account that settles disputes.
    """
    return ARBITER


@view
@external
def token() -> address:
    """
    @notice The ERC-20 token this market escrows, stakes and pays in; zero for ETH.
    """
    return TOKEN


@view
@external
def price_unit() -> uint256:
    """
    @notice Prices must be whole multiples of this many of the currency's smallest
            units: 10**9 (gwei) for ETH and 18-decimal tokens, 1 for 6-decimal ones.
    """
    return PRICE_UNIT


@view
@external
def arbiter_window() -> uint256:
    """
    @notice Seconds the arbiter has to settle a dispute.
    """
    return ARBITER_WINDOW


# ------------------------------------------------------------------ internal


@internal
@view
def _price(a: uint256) -> uint256:
    """
    @dev A job's price in the currency's smallest unit.
    """
    return packing.price_units(a) * PRICE_UNIT


@internal
@view
def _slot_b(job_id: uint256) -> uint256:
    """
    @dev Every posted job has a non-zero state, so an empty slot B means the id was
         never posted; this saves reading the global slot.
    """
    b: uint256 = self._jobs[job_id].b
    assert packing.state(b) != NONEXISTENT, "unknown job"
    return b


@internal
def _settle_accepted(job_id: uint256, a: uint256, b: uint256):
    """
    @dev Shared by `accept` and `finalize`: credit the provider's stake with the price
         minus the fee, release its collateral, count the completion.
    """
    price: uint256 = self._price(a)
    params: uint256 = self._params_history[packing.version(b)]
    fee: uint256 = price * packing.fee_bps(params) // MAX_BPS
    payout: uint256 = price - fee
    collateral: uint256 = price * packing.collateral_bps(params) // MAX_BPS
    claimer: address = packing.account(b)

    self._jobs[job_id].b = packing.with_transition(b, ACCEPTED, packing.deadline(b))
    p: uint256 = 0
    over_limit: uint256 = 0
    p, over_limit = packing.settled(self._providers[claimer], payout, collateral, 0, 1, 0)
    self._providers[claimer] = p
    if over_limit != 0:
        self._credit_over_stake_limit(claimer, job_id, over_limit)
    if fee != 0:
        self._credit(self.fee_recipient, job_id, fee)
    log JobAccepted(job_id=job_id, claimer=claimer, payout=payout, fee=fee, by=msg.sender)


@internal
def _settle_dispute(job_id: uint256, b: uint256, provider_bps: uint256, by_arbiter: bool):
    """
    @dev Shared by `resolve` and `close_dispute`: split the price, and at the
         arbiter's extremes slash the collateral (0) or count a completion (10,000).
    """
    a: uint256 = self._jobs[job_id].a
    price: uint256 = self._price(a)
    params: uint256 = self._params_history[packing.version(b)]
    collateral: uint256 = price * packing.collateral_bps(params) // MAX_BPS
    gross: uint256 = price * provider_bps // MAX_BPS
    fee: uint256 = gross * packing.fee_bps(params) // MAX_BPS
    to_provider: uint256 = gross - fee
    # The arbiter's extremes: a full loss slashes the collateral and counts against the
    # provider, a full win counts as a completed job.
    lost: bool = by_arbiter and provider_bps == 0
    won: bool = by_arbiter and provider_bps == MAX_BPS
    slashed: uint256 = 0
    if lost:
        slashed = collateral
    to_requester: uint256 = price - gross + slashed

    self._jobs[job_id].b = packing.with_transition(b, RESOLVED, packing.deadline(b))
    claimer: address = packing.account(b)
    p: uint256 = 0
    over_limit: uint256 = 0
    p, over_limit = packing.settled(
        self._providers[claimer],
        to_provider,
        collateral,
        slashed,
        convert(won, uint256),
        convert(lost, uint256),
    )
    self._providers[claimer] = p
    if over_limit != 0:
        self._credit_over_stake_limit(claimer, job_id, over_limit)
    if fee != 0:
        self._credit(self.fee_recipient, job_id, fee)
    log JobResolved(
        job_id=job_id,
        provider_bps=provider_bps,
        to_provider=to_provider,
        to_requester=to_requester,
        slashed=slashed,
        by_arbiter=by_arbiter,
    )
    self._push(packing.requester(a), job_id, to_requester)


@internal
def _push(account: address, job_id: uint256, amount: uint256):
    """
    @dev Pay with bounded gas; whatever the receiver does (revert, burn gas, try to
         re-enter: the lock makes that revert) or the token does (refuse a blacklisted
         receiver, return false), the settlement goes through and a failed payment
         becomes a credit.
    """
    if amount == 0:
        return
    success: bool = False
    if TOKEN == empty(address):
        success = raw_call(
            account, b"", value=amount, gas=PUSH_GAS_STIPEND, revert_on_failure=False
        )
    else:
        success = self._token_transfer(account, amount, TOKEN_PUSH_GAS)
    if success:
        log Paid(account=account, job_id=job_id, amount=amount)
    else:
        self._credit(account, job_id, amount)


@internal
def _credit(account: address, job_id: uint256, amount: uint256):
    self.credits[account] += amount
    log Credited(account=account, job_id=job_id, amount=amount)


@internal
def _credit_over_stake_limit(claimer: address, job_id: uint256, amount: uint256):
    """
    @dev The part of a payout the claimer's stake field (96 bits) cannot hold: a
         settlement must never revert because of the receiver's state, so it becomes
         a credit (`withdraw`) instead.
    """
    log StakeLimitReached(
        account=claimer, job_id=job_id, stake=packing.MAX_STAKE, credited=amount
    )
    self._credit(claimer, job_id, amount)


@internal
def _send(account: address, amount: uint256):
    """
    @dev Pay the caller with all remaining gas: it asked for the money, so it may
         spend what it likes receiving it. A failure reverts the whole withdrawal.
    """
    success: bool = False
    if TOKEN == empty(address):
        success = raw_call(account, b"", value=amount, revert_on_failure=False)
    else:
        success = self._token_transfer(account, amount, msg.gas)
    assert success, "transfer failed"


@internal
def _token_transfer(receiver: address, amount: uint256, gas_limit: uint256) -> bool:
    """
    @dev `transfer` that never reverts: a revert, a `false` or a malformed answer is a
         failure; no answer at all (USDT-style tokens) is a success.
    """
    return self._token_call(
        abi_encode(receiver, amount, method_id=method_id("transfer(address,uint256)")),
        gas_limit,
    )


@internal
def _token_call(data: Bytes[100], gas_limit: uint256) -> bool:
    success: bool = False
    response: Bytes[32] = b""
    success, response = raw_call(
        TOKEN, data, max_outsize=32, gas=gas_limit, revert_on_failure=False
    )
    if not success:
        return False
    if len(response) == 0:
        return True
    return len(response) == 32 and convert(response, uint256) == 1


@internal
def _pull(payer: address, amount: uint256):
    """
    @dev Collect `amount` tokens from `payer` (its allowance), checking that the market
         received exactly that much: a fee-on-transfer token would leave the market
         short of what it owes.
    """
    before: uint256 = self._token_balance()
    assert self._token_call(
        abi_encode(
            payer,
            self,
            amount,
            method_id=method_id("transferFrom(address,address,uint256)"),
        ),
        msg.gas,
    ), "token transfer failed"
    assert self._token_balance() == before + amount, "token fee on transfer"


@internal
@view
def _token_balance() -> uint256:
    response: Bytes[32] = raw_call(
        TOKEN,
        abi_encode(self, method_id=method_id("balanceOf(address)")),
        max_outsize=32,
        is_static_call=True,
    )
    return convert(response, uint256)


@internal
@view
def _token_decimals(token: address) -> uint256:
    success: bool = False
    response: Bytes[32] = b""
    success, response = raw_call(
        token,
        method_id("decimals()"),
        max_outsize=32,
        is_static_call=True,
        revert_on_failure=False,
    )
    assert success and len(response) == 32, "token has no decimals"
    decimals: uint256 = convert(response, uint256)
    # Stakes hold 96 bits: beyond 18 decimals they would hold less than 79 billion tokens
    # (0.00000008 of a 36-decimal token), too little to back the prices the market takes.
    assert decimals <= 18, "token decimals above 18"
    return decimals
