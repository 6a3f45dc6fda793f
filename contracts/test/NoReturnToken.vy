# pragma version 0.4.3
"""
@title USDT-style test token (tests only)
@license Apache-2.0
@notice An ERC-20 whose `transfer`, `transferFrom` and `approve` return nothing (as
        Tether's USDT does) and revert on failure, with 6 decimals and a blacklist
        (`set_blocked`). No permit. Anyone may mint: it only exists on test chains.
"""

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
blocked: public(HashMap[address, bool])


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
def __init__(name: String[32], symbol: String[16], decimals: uint8):
    self.name = name
    self.symbol = symbol
    self.decimals = decimals


@external
def mint(receiver: address, amount: uint256):
    self.balanceOf[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def set_blocked(account: address, is_blocked: bool):
    self.blocked[account] = is_blocked


@external
def transfer(receiver: address, amount: uint256):
    self._transfer(msg.sender, receiver, amount)


@external
def transferFrom(sender: address, receiver: address, amount: uint256):
    assert self.allowance[sender][msg.sender] >= amount, "allowance too low"
    self.allowance[sender][msg.sender] -= amount
    self._transfer(sender, receiver, amount)


@external
def approve(spender: address, amount: uint256):
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert not self.blocked[sender] and not self.blocked[receiver], "blocked account"
    assert self.balanceOf[sender] >= amount, "balance too low"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
