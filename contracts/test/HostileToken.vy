# pragma version 0.4.3
"""
@title A hostile ERC-20 token (tests only)
@license Apache-2.0
@notice What a token can do to the tools that read it: `name()`, `symbol()` and
        `decimals()` answer whatever raw bytes were set (`set_answer`: control characters,
        10 KB, invalid UTF-8, a bytes32, a decimals of 255) or revert (`set_reverts`);
        `balanceOf` can claim more than an account holds (`set_balance_lie`); `approve` can
        refuse to change a non-zero allowance to another non-zero one, as Tether's USDT
        does (`set_usdt_approve`); `permit` can revert (`set_permit_reverts`) or check
        signatures against another EIP-712 domain than the token's name and version "1"
        (`set_domain`). Anyone may mint and configure: it only exists on test chains.
"""

MAX_ANSWER: constant(uint256) = 12000

totalSupply: public(uint256)
held: HashMap[address, uint256]
allowance: public(HashMap[address, HashMap[address, uint256]])
nonces: public(HashMap[address, uint256])

# The raw ABI-encoded answers of name(), symbol() and decimals(), by function name.
answer: HashMap[String[8], Bytes[MAX_ANSWER]]
reverts: HashMap[String[8], bool]
balance_lie: public(uint256)
usdt_approve: public(bool)
permit_reverts: public(bool)
domain: bytes32

PERMIT_TYPEHASH: constant(bytes32) = keccak256(
    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)
DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


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
    self.answer["name"] = abi_encode(name)
    self.answer["symbol"] = abi_encode(symbol)
    self.answer["decimals"] = abi_encode(decimals)
    self.domain = keccak256(
        abi_encode(DOMAIN_TYPEHASH, keccak256(name), keccak256("1"), chain.id, self)
    )


@external
def set_answer(function: String[8], raw: Bytes[MAX_ANSWER]):
    self.answer[function] = raw


@external
def set_reverts(function: String[8], reverting: bool):
    self.reverts[function] = reverting


@external
def set_balance_lie(extra: uint256):
    self.balance_lie = extra


@external
def set_usdt_approve(on: bool):
    self.usdt_approve = on


@external
def set_permit_reverts(on: bool):
    self.permit_reverts = on


@external
def set_domain(domain: bytes32):
    self.domain = domain


@external
@view
@raw_return
def name() -> Bytes[MAX_ANSWER]:
    return self._answer("name")


@external
@view
@raw_return
def symbol() -> Bytes[MAX_ANSWER]:
    return self._answer("symbol")


@external
@view
@raw_return
def decimals() -> Bytes[MAX_ANSWER]:
    return self._answer("decimals")


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    return self.domain


@external
@view
def balanceOf(account: address) -> uint256:
    return self.held[account] + self.balance_lie


@external
def mint(receiver: address, amount: uint256):
    self.held[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    assert self.allowance[sender][msg.sender] >= amount, "allowance too low"
    self.allowance[sender][msg.sender] -= amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    if self.usdt_approve:
        assert amount == 0 or self.allowance[msg.sender][spender] == 0, "approve from non-zero"
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
    assert not self.permit_reverts, "permit disabled"
    assert block.timestamp <= deadline, "permit expired"
    nonce: uint256 = self.nonces[owner]
    digest: bytes32 = keccak256(
        concat(
            b"\x19\x01",
            self.domain,
            keccak256(abi_encode(PERMIT_TYPEHASH, owner, spender, amount, nonce, deadline)),
        )
    )
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address) and signer == owner, "invalid permit"
    self.nonces[owner] = nonce + 1
    self.allowance[owner][spender] = amount
    log Approval(owner=owner, spender=spender, value=amount)


@internal
@view
def _answer(function: String[8]) -> Bytes[MAX_ANSWER]:
    assert not self.reverts[function], "hostile revert"
    return self.answer[function]


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert self.held[sender] >= amount, "balance too low"
    self.held[sender] -= amount
    self.held[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
