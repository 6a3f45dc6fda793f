# pragma version 0.4.3
"""
@title Hostile account (tests only)
@license Apache-2.0
@notice A contract that acts as a requester or provider on a JobMarket and misbehaves
        when it is paid: it refuses the payment, burns all the gas it gets, or
        re-enters the market. Tests use it to prove that no receiver can block a
        settlement or be paid twice.
"""

# Receive behaviours.
ACCEPT: constant(uint8) = 0
REFUSE: constant(uint8) = 1
BURN_GAS: constant(uint8) = 2
# Re-enter with `reentry_data`, then accept the payment whatever the outcome.
REENTER: constant(uint8) = 3
# Re-enter with `reentry_data`, then refuse the payment if the re-entry failed.
REENTER_OR_REFUSE: constant(uint8) = 4

MAX_CALLDATA: constant(uint256) = 512

market: public(address)
mode: public(uint8)
reentry_data: public(Bytes[MAX_CALLDATA])
burned: public(uint256)


event Reentered:
    success: bool


event Received:
    amount: uint256


@deploy
@payable
def __init__(market: address):
    self.market = market


@external
def configure(mode: uint8, reentry_data: Bytes[MAX_CALLDATA]):
    """
    @notice Choose how the next payments are received.
    """
    self.mode = mode
    self.reentry_data = reentry_data


@external
@payable
def execute(data: Bytes[MAX_CALLDATA], amount: uint256) -> Bytes[32]:
    """
    @notice Call the market as this account; a revert bubbles up with its reason.
    @param data ABI-encoded call.
    @param amount Wei to send with the call, from this contract's balance.
    """
    return raw_call(self.market, data, value=amount, max_outsize=32)


@external
@payable
def __default__():
    mode: uint8 = self.mode
    if mode == REFUSE:
        raise "payment refused"
    elif mode == BURN_GAS:
        for i: uint256 in range(10**9):
            self.burned = i
    elif mode == REENTER or mode == REENTER_OR_REFUSE:
        success: bool = raw_call(self.market, self.reentry_data, revert_on_failure=False)
        log Reentered(success=success)
        if not success and mode == REENTER_OR_REFUSE:
            raise "re-entry blocked"
    log Received(amount=msg.value)
