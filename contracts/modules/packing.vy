# pragma version 0.4.3
"""
@title JobMarket storage packing
@license Apache-2.0
@notice Pure helpers that pack a job into two storage slots, a provider into one, and
        the market's global settings into one. Vyper 0.4 gives every variable a slot
        of its own; a cold slot read costs 2,100 gas and a first write 22,100, so the
        market packs by hand and every transition touches as few slots as possible.
@dev Layouts, lowest bits first:

     job slot A, written once by `post_job`:
         requester:160 | price_units:56 | claim_deadline:32 | spare:8
         (price_units: the price in the market's price unit, 10**9 wei for ETH)

     job slot B, rewritten by every transition:
         account:160 | state:4 | designated:1 | deadline:32 | work_timeout:24 |
         review_window:24 | params_version:11
         `account` is the designated provider (zero for an open job) while the job
         is OPEN, and the claimer from the first claim on.

     provider slot:
         stake:96 | locked:96 | completed:31 | slashed:32 | registered:1

     global slot:
         job_count:64 | paused:1 | params_version:11 | params:48 | spare:132

     params (a history entry, and bits 76..123 of the global slot):
         fee_bps:16 | collateral_bps:16 | abandon_slash_bps:16

     Callers validate ranges before packing (each pack function says which);
     the packers assert only what a caller cannot see, so a bad value can never
     spill into a neighbouring field.
"""

MASK_1: constant(uint256) = 2**1 - 1
MASK_4: constant(uint256) = 2**4 - 1
MASK_11: constant(uint256) = 2**11 - 1
MASK_16: constant(uint256) = 2**16 - 1
MASK_24: constant(uint256) = 2**24 - 1
MASK_31: constant(uint256) = 2**31 - 1
MASK_32: constant(uint256) = 2**32 - 1
MASK_48: constant(uint256) = 2**48 - 1
MASK_56: constant(uint256) = 2**56 - 1
MASK_64: constant(uint256) = 2**64 - 1
MASK_96: constant(uint256) = 2**96 - 1
MASK_160: constant(uint256) = 2**160 - 1

# Largest values the packed fields hold; the market validates its inputs against these.
MAX_PRICE_UNITS: constant(uint256) = MASK_56
MAX_TIMESTAMP: constant(uint256) = MASK_32
MAX_DURATION: constant(uint256) = MASK_24
MAX_PARAMS_VERSION: constant(uint256) = MASK_11
MAX_STAKE: constant(uint256) = MASK_96

# Slot B bit offsets.
B_STATE: constant(uint256) = 160
B_DESIGNATED: constant(uint256) = 164
B_DEADLINE: constant(uint256) = 165
B_WORK_TIMEOUT: constant(uint256) = 197
B_REVIEW_WINDOW: constant(uint256) = 221
B_VERSION: constant(uint256) = 245
# Bits a transition rewrites: state and deadline.
B_TRANSITION_MASK: constant(uint256) = (MASK_4 << B_STATE) | (MASK_32 << B_DEADLINE)

# Provider slot bit offsets.
P_LOCKED: constant(uint256) = 96
P_COMPLETED: constant(uint256) = 192
P_SLASHED: constant(uint256) = 223
P_REGISTERED: constant(uint256) = 255

# Global slot bit offsets.
G_PAUSED: constant(uint256) = 64
G_VERSION: constant(uint256) = 65
G_PARAMS: constant(uint256) = 76


# ---------------------------------------------------------------- job slot A


@internal
@pure
def pack_a(requester: address, price_units: uint256, claim_deadline: uint256) -> uint256:
    """
    @dev The caller checks price_units <= MAX_PRICE_UNITS and
         claim_deadline <= MAX_TIMESTAMP.
    """
    return convert(requester, uint256) | (price_units << 160) | (claim_deadline << 216)


@internal
@pure
def requester(a: uint256) -> address:
    return convert(a & MASK_160, address)


@internal
@pure
def price_units(a: uint256) -> uint256:
    """
    @return The job's price in price units (the market multiplies by its unit).
    """
    return (a >> 160) & MASK_56


@internal
@pure
def claim_deadline(a: uint256) -> uint256:
    return (a >> 216) & MASK_32


# ---------------------------------------------------------------- job slot B


@internal
@pure
def pack_b(
    account: address,
    state: uint256,
    designated: bool,
    deadline: uint256,
    work_timeout: uint256,
    review_window: uint256,
    version: uint256,
) -> uint256:
    """
    @dev The caller checks deadline <= MAX_TIMESTAMP, both durations <= MAX_DURATION
         and version <= MAX_PARAMS_VERSION; states are the market's constants.
    """
    return (
        convert(account, uint256)
        | (state << B_STATE)
        | (convert(designated, uint256) << B_DESIGNATED)
        | (deadline << B_DEADLINE)
        | (work_timeout << B_WORK_TIMEOUT)
        | (review_window << B_REVIEW_WINDOW)
        | (version << B_VERSION)
    )


@internal
@pure
def account(b: uint256) -> address:
    return convert(b & MASK_160, address)


@internal
@pure
def state(b: uint256) -> uint256:
    return (b >> B_STATE) & MASK_4


@internal
@pure
def is_designated(b: uint256) -> bool:
    return (b >> B_DESIGNATED) & MASK_1 == 1


@internal
@pure
def deadline(b: uint256) -> uint256:
    return (b >> B_DEADLINE) & MASK_32


@internal
@pure
def work_timeout(b: uint256) -> uint256:
    return (b >> B_WORK_TIMEOUT) & MASK_24


@internal
@pure
def review_window(b: uint256) -> uint256:
    return (b >> B_REVIEW_WINDOW) & MASK_24


@internal
@pure
def version(b: uint256) -> uint256:
    return b >> B_VERSION


@internal
@pure
def with_transition(b: uint256, state: uint256, deadline: uint256) -> uint256:
    """
    @notice Slot B moved to `state`, with `deadline` as its current deadline.
    @dev Reverts when `deadline` does not fit 32 bits (after the year 2106).
    """
    assert deadline <= MAX_TIMESTAMP, "timestamp overflow"
    return (b & ~B_TRANSITION_MASK) | (state << B_STATE) | (deadline << B_DEADLINE)


@internal
@pure
def with_claimer(b: uint256, claimer: address, state: uint256, deadline: uint256) -> uint256:
    """
    @notice Slot B claimed by `claimer`: the account field now names the claimer.
    """
    assert deadline <= MAX_TIMESTAMP, "timestamp overflow"
    return (
        (b & ~(B_TRANSITION_MASK | MASK_160))
        | convert(claimer, uint256)
        | (state << B_STATE)
        | (deadline << B_DEADLINE)
    )


@internal
@pure
def reopened(b: uint256, state: uint256, claim_deadline: uint256) -> uint256:
    """
    @notice Slot B back on offer after an abandon: the claimer is forgotten unless it
            is the designated provider (a designated job can only be claimed by it).
    """
    kept: uint256 = b & ~(B_TRANSITION_MASK | MASK_160)
    if (b >> B_DESIGNATED) & MASK_1 == 1:
        kept |= b & MASK_160
    return kept | (state << B_STATE) | (claim_deadline << B_DEADLINE)


# ---------------------------------------------------------------- provider slot


@internal
@pure
def stake(p: uint256) -> uint256:
    return p & MASK_96


@internal
@pure
def locked(p: uint256) -> uint256:
    return (p >> P_LOCKED) & MASK_96


@internal
@pure
def completed(p: uint256) -> uint256:
    return (p >> P_COMPLETED) & MASK_31


@internal
@pure
def slashed(p: uint256) -> uint256:
    return (p >> P_SLASHED) & MASK_32


@internal
@pure
def registered(p: uint256) -> bool:
    return p >> P_REGISTERED == 1


@internal
@pure
def free_stake(p: uint256) -> uint256:
    """
    @dev `locked <= stake` always holds: a claim locks only free stake.
    """
    return (p & MASK_96) - ((p >> P_LOCKED) & MASK_96)


@internal
@pure
def pack_provider(
    stake: uint256, locked: uint256, completed: uint256, slashed: uint256, registered: bool
) -> uint256:
    """
    @dev Counters saturate instead of spilling into their neighbours; a stake over
         96 bits (79 billion ether) reverts (a deposit; settlements cap it first).
    """
    assert stake <= MAX_STAKE, "stake too high"
    return (
        stake
        | (locked << P_LOCKED)
        | (min(completed, MASK_31) << P_COMPLETED)
        | (min(slashed, MASK_32) << P_SLASHED)
        | (convert(registered, uint256) << P_REGISTERED)
    )


@internal
@pure
def with_lock(p: uint256, amount: uint256) -> uint256:
    """
    @notice Provider slot with `amount` more stake locked.
    @dev The caller checks amount <= free_stake(p), so locked stays <= stake.
    """
    return p + (amount << P_LOCKED)


@internal
@pure
def settled(
    p: uint256,
    credit: uint256,
    unlock: uint256,
    slash: uint256,
    completed: uint256,
    slashed: uint256,
) -> (uint256, uint256):
    """
    @notice Provider slot after a job ends: `credit` added to the stake, `unlock`
            released from the locked stake, `slash` (part of the released amount)
            taken from the stake, and the counters increased.
    @dev A settlement must never depend on the receiver's state, so a stake that
         would exceed 96 bits is capped at MAX_STAKE instead of reverting; the caller
         credits the rest. Packs the slot itself, with pack_provider's layout and
         saturating counters, to save an internal call on every settlement. Reverts
         (underflow) if `unlock` exceeds the locked stake or `slash` the stake.
    @return The new provider slot, and the part of `credit` over the stake limit
            (zero for any real stake).
    """
    stake: uint256 = (p & MASK_96) + credit - slash
    over_limit: uint256 = 0
    if stake > MAX_STAKE:
        over_limit = stake - MAX_STAKE
        stake = MAX_STAKE
    return (
        stake
        | ((((p >> P_LOCKED) & MASK_96) - unlock) << P_LOCKED)
        | (min(((p >> P_COMPLETED) & MASK_31) + completed, MASK_31) << P_COMPLETED)
        | (min(((p >> P_SLASHED) & MASK_32) + slashed, MASK_32) << P_SLASHED)
        | (p & (1 << P_REGISTERED)),
        over_limit,
    )


@internal
@pure
def released(p: uint256, unlock: uint256, slash: uint256, slashed: uint256) -> uint256:
    """
    @notice Provider slot after a job ends without a payout (abandon, reclaim):
            `unlock` released from the locked stake, `slash` (part of the released
            amount) taken from the stake, and the slashed counter increased.
    @dev The stake only shrinks, so it always fits. Reverts (underflow) if `unlock`
         exceeds the locked stake or `slash` the stake.
    """
    return self.pack_provider(
        (p & MASK_96) - slash,
        ((p >> P_LOCKED) & MASK_96) - unlock,
        (p >> P_COMPLETED) & MASK_31,
        ((p >> P_SLASHED) & MASK_32) + slashed,
        p >> P_REGISTERED == 1,
    )


# ---------------------------------------------------------------- params


@internal
@pure
def pack_params(fee_bps: uint256, collateral_bps: uint256, abandon_slash_bps: uint256) -> uint256:
    """
    @dev The caller checks each value <= 10,000.
    """
    return fee_bps | (collateral_bps << 16) | (abandon_slash_bps << 32)


@internal
@pure
def fee_bps(params: uint256) -> uint256:
    return params & MASK_16


@internal
@pure
def collateral_bps(params: uint256) -> uint256:
    return (params >> 16) & MASK_16


@internal
@pure
def abandon_slash_bps(params: uint256) -> uint256:
    return (params >> 32) & MASK_16


# ---------------------------------------------------------------- global slot


@internal
@pure
def pack_global(job_count: uint256, paused: bool, version: uint256, params: uint256) -> uint256:
    return (
        job_count
        | (convert(paused, uint256) << G_PAUSED)
        | (version << G_VERSION)
        | (params << G_PARAMS)
    )


@internal
@pure
def job_count(g: uint256) -> uint256:
    return g & MASK_64


@internal
@pure
def paused(g: uint256) -> bool:
    return (g >> G_PAUSED) & MASK_1 == 1


@internal
@pure
def global_version(g: uint256) -> uint256:
    return (g >> G_VERSION) & MASK_11


@internal
@pure
def global_params(g: uint256) -> uint256:
    return (g >> G_PARAMS) & MASK_48
