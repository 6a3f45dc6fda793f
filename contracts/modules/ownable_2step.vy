# pragma version 0.4.3
# pragma nonreentrancy on
"""
@title Two-step ownership
@license Apache-2.0
@notice An owner who can hand the contract over only to an account that confirms by
        calling `accept_ownership`, so a typo in the new owner's address cannot lose
        the contract. The deployer is the first owner.
@dev Use with `initializes: ownable_2step`, call `ownable_2step.__init__()` from the
     constructor, export the external functions, and guard owner-only functions with
     `ownable_2step._check_owner()`.
"""

# @notice The account allowed to call owner-only functions.
owner: public(address)
# @notice The account that may call `accept_ownership`; zero when no transfer is pending.
pending_owner: public(address)


event OwnershipTransferStarted:
    previous_owner: indexed(address)
    new_owner: indexed(address)


event OwnershipTransferred:
    previous_owner: indexed(address)
    new_owner: indexed(address)


@deploy
def __init__():
    self._transfer_ownership(msg.sender)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Offer the ownership to `new_owner`; it takes effect when `new_owner` calls
            `accept_ownership`. The zero address withdraws a pending offer.
    @param new_owner The account that may accept the ownership.
    """
    self._check_owner()
    self.pending_owner = new_owner
    log OwnershipTransferStarted(previous_owner=self.owner, new_owner=new_owner)


@external
def accept_ownership():
    """
    @notice Take over the ownership offered to the caller by `transfer_ownership`.
    """
    assert msg.sender == self.pending_owner, "not pending owner"
    self._transfer_ownership(msg.sender)


@internal
def _check_owner():
    assert msg.sender == self.owner, "not owner"


@internal
def _transfer_ownership(new_owner: address):
    previous_owner: address = self.owner
    self.owner = new_owner
    self.pending_owner = empty(address)
    log OwnershipTransferred(previous_owner=previous_owner, new_owner=new_owner)
