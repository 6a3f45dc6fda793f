# pragma version 0.4.3
"""
@title Test ERC-20 token with EIP-2612 permit (tests only)
@license Apache-2.0
@notice A stand-in for the tokens a market may be deployed with, and for their ways of
        failing: any number of decimals (6 like USDC), a fee taken on every transfer
        (`set_fee_bps`), receivers it refuses (`set_blocked`, like USDC's blacklist),
        and failures reported by reverting or, with `fails_quietly`, by returning
        `false`. Anyone may mint: it only exists on test chains.
"""

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
nonces: public(HashMap[address, uint256])

# Basis points of every transfer burnt on the way (a fee-on-transfer token).
fee_bps: public(uint256)
# Accounts that may neither send nor receive (a blacklist).
blocked: public(HashMap[address, bool])
# True: a failed transfer returns false; False: it reverts.
fails_quietly: public(bool)

DOMAIN_SEPARATOR: public(immutable(bytes32))
PERMIT_TYPEHASH: constant(bytes32) = keccak256(
    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)
DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
VERSION: constant(String[1]) = "1"


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
def __init__(name: String[32], symbol: String[16], decimals: uint8, fails_quietly: bool):
    self.name = name
    self.symbol = symbol
    self.decimals = decimals
    self.fails_quietly = fails_quietly
    DOMAIN_SEPARATOR = keccak256(
        abi_encode(
            DOMAIN_TYPEHASH, keccak256(name), keccak256(VERSION), chain.id, self
        )
    )


@external
def mint(receiver: address, amount: uint256):
    self.balanceOf[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def set_fee_bps(fee_bps: uint256):
    self.fee_bps = fee_bps


@external
def set_blocked(account: address, is_blocked: bool):
    self.blocked[account] = is_blocked


@external
def transfer(receiver: address, amount: uint256) -> bool:
    return self._transfer(msg.sender, receiver, amount)


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    if self.allowance[sender][msg.sender] < amount:
        return self._fail("allowance too low")
    if not self._transfer(sender, receiver, amount):
        return False
    self.allowance[sender][msg.sender] -= amount
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def permit(
    owner: address,
    spender: address,
    amount: uint256,
    deadline: uint256,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    assert block.timestamp <= deadline, "permit expired"
    nonce: uint256 = self.nonces[owner]
    digest: bytes32 = keccak256(
        concat(
            b"\x19\x01",
            DOMAIN_SEPARATOR,
            keccak256(abi_encode(PERMIT_TYPEHASH, owner, spender, amount, nonce, deadline)),
        )
    )
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address) and signer == owner, "invalid permit"
    self.nonces[owner] = nonce + 1
    self.allowance[owner][spender] = amount
    log Approval(owner=owner, spender=spender, value=amount)


@internal
def _transfer(sender: address, receiver: address, amount: uint256) -> bool:
    if self.blocked[sender] or self.blocked[receiver]:
        return self._fail("blocked account")
    if self.balanceOf[sender] < amount:
        return self._fail("balance too low")
    fee: uint256 = amount * self.fee_bps // 10_000
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount - fee
    self.totalSupply -= fee
    log Transfer(sender=sender, receiver=receiver, value=amount - fee)
    return True


@internal
@view
def _fail(reason: String[32]) -> bool:
    assert self.fails_quietly, reason
    return False
