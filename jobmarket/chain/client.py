"""Typed access to the deployed JobMarket through web3.py: reads, events and transactions.

The requester tools and the provider node both go through :class:`MarketClient`. It checks a
transaction by estimating its gas before signing anything, so a call the contract would refuse
becomes a :class:`TransactionRefused` (with the contract's own reason) and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import LogReceipt, TxParams, TxReceipt

from jobmarket.chain import artifact, deployments, rpc
from jobmarket.chain import token as erc20
from jobmarket.chain.deployments import Deployment
from jobmarket.chain.states import JobState
from jobmarket.chain.units import ETH, Currency
from jobmarket.errors import NotFound, Unreachable, UserError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
RECEIPT_TIMEOUT_S = 120.0
# Gas estimates are exact on an unchanged state; a margin covers state that moves meanwhile.
GAS_MARGIN_PERCENT = 20


class TransactionRefused(UserError):
    """The contract would revert this call (found before sending) or did revert it (mined)."""

    def __init__(self, function: str, reason: str, mined_tx: str | None = None) -> None:
        self.function = function
        self.reason = reason
        self.mined_tx = mined_tx
        where = f" in transaction {mined_tx}" if mined_tx else "; nothing was sent"
        super().__init__(f"{function} was refused by the contract: {reason}{where}")


def transaction_hash(raw_transaction: bytes) -> str:
    """A signed transaction's hash, known before it is sent: ``keccak`` of its bytes."""
    return Web3.keccak(bytes(raw_transaction)).to_0x_hex()


def max_gas_cost(tx: dict | TxParams) -> int:
    """The most ``tx`` can cost in gas: its gas limit at its maximum fee per gas."""
    fee = tx.get("maxFeePerGas", tx.get("gasPrice", 0))
    return int(tx["gas"]) * int(fee)  # type: ignore[arg-type]


@dataclass(frozen=True)
class JobView:
    """A job as ``get_job`` returns it, with typed fields (amounts in the market's currency's
    smallest unit: wei, or token units; times in unix s)."""

    job_id: int
    requester: str
    price: int
    state: JobState
    provider: str | None
    designated: str | None
    claim_deadline: int
    deadline: int
    work_timeout: int
    review_window: int
    collateral: int
    fee_bps: int
    params_version: int

    @classmethod
    def from_raw(cls, job_id: int, raw: Sequence[Any]) -> JobView:
        """Build from web3's ``get_job`` result: the contract's Job struct as a tuple."""
        (requester, price, state, provider, designated, claim_deadline, deadline) = raw[:7]
        (work_timeout, review_window, collateral, fee_bps, params_version) = raw[7:]
        return cls(
            job_id=job_id,
            requester=to_checksum_address(requester),
            price=int(price),
            state=JobState(int(state)),
            provider=_optional_address(provider),
            designated=_optional_address(designated),
            claim_deadline=int(claim_deadline),
            deadline=int(deadline),
            work_timeout=int(work_timeout),
            review_window=int(review_window),
            collateral=int(collateral),
            fee_bps=int(fee_bps),
            params_version=int(params_version),
        )


@dataclass(frozen=True)
class ProviderInfo:
    """A provider's stake (wei or token units), the part locked as collateral, and its track
    record."""

    stake: int
    locked: int
    completed: int
    slashed: int
    registered: bool

    @property
    def free(self) -> int:
        return self.stake - self.locked


@dataclass(frozen=True)
class MarketEvent:
    """One decoded JobMarket log, with where it sits in the chain (for cursors and reorgs)."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @property
    def job_id(self) -> int | None:
        value = self.args.get("job_id")
        return None if value is None else int(value)


def _address_topic(account: str) -> HexBytes:
    return HexBytes(bytes(12) + bytes.fromhex(to_checksum_address(account)[2:]))


def _optional_address(value: str) -> str | None:
    return None if int(value, 16) == 0 else to_checksum_address(value)


def _abi() -> list[dict[str, Any]]:
    return artifact.bundle_json()["abi"]


def revert_reason(err: ContractLogicError) -> str:
    """The contract's reason string from a web3 revert error (``execution reverted: X`` → X)."""
    return _reason_in(str(err.message if getattr(err, "message", None) else err))


def _reason_in(message: str) -> str:
    """``X`` of a node's ``execution reverted: X`` message."""
    for prefix in ("execution reverted: ", "execution reverted"):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    return message.strip() or "reverted without a reason"


def simulated_revert_reason(call: Any) -> str | None:
    """The revert reason of one ``eth_simulateV1`` call result (None: it succeeded)."""
    if not isinstance(call, dict) or str(call.get("status", "")).lower() in ("0x1", "1"):
        return None
    data = str(call.get("returnData") or "")
    if data.startswith(_ERROR_SELECTOR):
        try:
            (reason,) = abi_decode(["string"], bytes.fromhex(data[len(_ERROR_SELECTOR) :]))
            return str(reason).strip() or "reverted without a reason"
        except (ValueError, TypeError, DecodingError):
            pass
    error = call.get("error")
    return _reason_in(str(error.get("message", "")) if isinstance(error, dict) else "")


# ``Error(string)``: how Vyper and Solidity encode a revert reason.
_ERROR_SELECTOR = "0x08c379a0"


@dataclass(frozen=True)
class _EventLayout:
    """Where each argument of one event sits: indexed ones in topics, the rest in data."""

    name: str
    indexed: tuple[tuple[str, str], ...]
    unindexed: tuple[tuple[str, str], ...]
    order: tuple[str, ...]

    @classmethod
    def of(cls, entry: dict[str, Any]) -> _EventLayout:
        inputs = entry["inputs"]
        return cls(
            name=entry["name"],
            indexed=tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
            unindexed=tuple((i["name"], i["type"]) for i in inputs if not i["indexed"]),
            order=tuple(i["name"] for i in inputs),
        )

    def decode_args(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, topics, strict=True):
            # A dynamic indexed value is stored as its hash, which is what web3 returns too.
            values[name] = bytes(topic) if _is_dynamic(kind) else _abi_value(kind, bytes(topic))
        decoded = abi_decode([kind for _, kind in self.unindexed], data)
        for (name, kind), value in zip(self.unindexed, decoded, strict=True):
            values[name] = to_checksum_address(value) if kind == "address" else value
        return {name: values[name] for name in self.order}


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


def _abi_value(kind: str, word: bytes) -> Any:
    (value,) = abi_decode([kind], word)
    return to_checksum_address(value) if kind == "address" else value


class MarketClient:
    """The JobMarket of one chain, read and driven through a web3 connection."""

    def __init__(self, w3: Web3, address: str, deployment: Deployment | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.deployment = deployment
        self.contract: Contract = w3.eth.contract(address=self.address, abi=_abi())
        self._events_by_topic = {
            HexBytes(event_abi_to_log_topic(entry)): _EventLayout.of(entry)
            for entry in _abi()
            if entry["type"] == "event"
        }
        self._topic_by_name = {
            layout.name: topic for topic, layout in self._events_by_topic.items()
        }

    @classmethod
    def connect(cls, rpc_url: str | None = None, market: str | None = None) -> MarketClient:
        """Connect to ``rpc_url`` and load the deployment recorded for that chain (the market
        at address ``market``, else ``$JOBMARKET_MARKET``, else the newest live one)."""
        w3 = rpc.connect(rpc_url)
        deployment = deployments.verified_web3(w3, market)
        return cls(w3, deployment.address, deployment)

    @cached_property
    def chain_id(self) -> int:
        """The connected chain's id, asked once: a client stays on the chain it was built for."""
        return int(self.w3.eth.chain_id)

    @property
    def start_block(self) -> int:
        """The first block that can hold JobMarket events."""
        return self.deployment.block_number if self.deployment else 0

    # -- reads -----------------------------------------------------------------------------

    def job_count(self) -> int:
        return int(self.contract.functions.job_count().call())

    def job(self, job_id: int, block: int | str = "latest") -> JobView:
        """Job ``job_id``; NotFound if it was never posted."""
        try:
            raw = self.contract.functions.get_job(job_id).call(block_identifier=block)
        except ContractLogicError:
            count = self.job_count()
            raise NotFound(
                f"job {job_id} does not exist on this market ({count} jobs posted so far)",
                "check the job id (`requester jobs` lists yours)",
            ) from None
        return JobView.from_raw(job_id, raw)

    def provider_info(self, account: str) -> ProviderInfo:
        stake, locked, completed, slashed, registered = self.contract.functions.provider_info(
            to_checksum_address(account)
        ).call()
        return ProviderInfo(int(stake), int(locked), int(completed), int(slashed), bool(registered))

    def credits(self, account: str) -> int:
        return int(self.contract.functions.credits(to_checksum_address(account)).call())

    def arbiter(self) -> str:
        """The market's arbiter (fixed at deployment)."""
        return to_checksum_address(self.contract.functions.arbiter().call())

    def paused(self) -> bool:
        return bool(self.contract.functions.paused().call())

    def balance(self, account: str) -> int:
        """The account's ETH balance (what pays for gas, and the price in an ETH market)."""
        return int(self.w3.eth.get_balance(to_checksum_address(account)))

    # -- the market's currency -------------------------------------------------------------

    @cached_property
    def token_address(self) -> str | None:
        """The ERC-20 token the market pays in; None for an ETH market (fixed at deployment)."""
        address = rpc.with_retries(
            lambda: self.contract.functions.token().call(), "reading the market's currency"
        )
        return _optional_address(address)

    @cached_property
    def currency(self) -> Currency:
        """ETH, or the market's token with its symbol, decimals and price unit."""
        if self.token_address is None:
            return ETH
        token = self.token_address
        return rpc.with_retries(
            lambda: erc20.read_currency(
                self.w3, token, int(self.contract.functions.price_unit().call())
            ),
            "reading the market's token",
        )

    @cached_property
    def token(self) -> Contract | None:
        return (
            None
            if self.token_address is None
            else erc20.token_contract(self.w3, self.token_address)
        )

    def currency_balance(self, account: str) -> int:
        """What ``account`` holds of the market's currency (token units, or wei for ETH)."""
        if self.token is None:
            return self.balance(account)
        return int(self.token.functions.balanceOf(to_checksum_address(account)).call())

    def allowance(self, owner: str) -> int:
        """Token units ``owner`` allows the market to pull (0 in an ETH market)."""
        if self.token is None:
            return 0
        owner = to_checksum_address(owner)
        return int(self.token.functions.allowance(owner, self.address).call())

    def supports_permit(self) -> bool:
        """Whether the token has an EIP-2612 permit we can sign (see :meth:`permit_version`)."""
        return self.permit_version() is not None

    def permit_version(self) -> str | None:
        """The EIP-712 domain version of the token's permit ("1", or "2" as USDC has), found by
        matching its ``DOMAIN_SEPARATOR`` against its name, this chain and its address; None
        when it answers no ``nonces``, ``name`` or a separator of neither: a permit signed for
        another domain could only revert."""
        if self.token is None or self.token_address is None:
            return None
        try:
            separator = bytes(self.token.functions.DOMAIN_SEPARATOR().call())
            self.token.functions.nonces(self.address).call()
            name = str(self.token.functions.name().call())
        except Exception:  # a revert, no such function, an undecodable answer: no permit
            return None
        for version in erc20.PERMIT_VERSIONS:
            if separator == erc20.domain_separator(
                name, self.chain_id, self.token_address, version
            ):
                return version
        return None

    def permit_accepted(
        self, owner: str, amount: int, deadline: int, v: int, r: bytes, s: bytes
    ) -> bool:
        """Whether the token would accept this signed permit (an ``eth_call``, nothing sent):
        a token that claims EIP-2612 but refuses the permit must not cost the owner a post
        that reverts."""
        if self.token is None:
            return False
        call = self.token.functions.permit(
            to_checksum_address(owner), self.address, amount, deadline, v, r, s
        )
        try:
            call.call({"from": to_checksum_address(owner)}, block_identifier="pending")
        except (ContractLogicError, BadFunctionCallOutput, ValueError):
            return False
        return True

    def token_moves(self, owner: str, amount: int) -> bool:
        """Whether the token would let ``owner`` move ``amount`` (an ``eth_call`` of
        ``transfer(market, amount)``, nothing sent): a ``balanceOf`` that claims more than
        ``owner`` holds, or a blocked account, is caught before an ``approve`` costs gas."""
        if self.token is None:
            return True
        data = self.token.encode_abi("transfer", [self.address, amount])
        try:
            answer = bytes(
                self.w3.eth.call(
                    {"from": to_checksum_address(owner), "to": self.token.address, "data": data},
                    "pending",
                )
            )
        except (ContractLogicError, ValueError):
            return False
        # The market's own rule: no answer (USDT-style) or a 32-byte true is a success.
        return len(answer) == 0 or (len(answer) == 32 and int.from_bytes(answer, "big") == 1)

    def post_refusal_after_approvals(
        self, owner: str, approvals: Sequence[int], function: str, args: Sequence[Any]
    ) -> str | None:
        """Why the contract would refuse ``function(*args)`` once the ``approvals`` are mined:
        the approves and the post simulated in one block (``eth_simulateV1``, nothing sent),
        so a refusal (a fee-on-transfer token) costs no approve. None: it would pass, or the
        RPC cannot simulate (then the post's own pre-check, after the approves, decides)."""
        if self.token is None:
            return None
        sender = to_checksum_address(owner)
        calls = [
            {"from": sender, "to": self.token.address,
             "data": self.token.encode_abi("approve", [self.address, amount])}
            for amount in approvals
        ]  # fmt: skip
        post = self.contract.encode_abi(function, list(args))
        calls.append({"from": sender, "to": self.address, "data": post})
        request = {"blockStateCalls": [{"calls": calls}], "validation": False}
        try:
            answer = self.w3.provider.make_request("eth_simulateV1", [request, "latest"])
            results = answer["result"][0]["calls"]
        except (KeyError, IndexError, TypeError, ValueError, OSError, requests.RequestException):
            return None  # no eth_simulateV1 here (an error answer has no "result")
        if len(results) != len(calls):
            return None
        *approved, posted = results
        if any(simulated_revert_reason(call) is not None for call in approved):
            return None  # the approve itself fails: its own pre-check says why
        return simulated_revert_reason(posted)

    def approvals_needed(self, owner: str, amount: int) -> list[int]:
        """The ``approve`` amounts, in order, that let the market pull ``amount`` from
        ``owner``: none when the allowance covers it; a leftover allowance is set to zero first,
        since USDT-style tokens refuse to change one non-zero allowance to another."""
        allowance = self.allowance(owner)
        if allowance >= amount:
            return []
        return [amount] if allowance == 0 else [0, amount]

    def permit_typed_data(self, owner: str, amount: int, deadline: int) -> dict[str, Any]:
        """The EIP-712 permit ``owner`` signs so that ``post_job_permit`` may pull ``amount``."""
        if self.token is None or self.token_address is None:
            raise UserError("this market pays in ETH; a permit is for token markets")
        owner = to_checksum_address(owner)
        return erc20.permit_typed_data(
            token_name=str(self.token.functions.name().call()),
            chain_id=self.chain_id,
            token=self.token_address,
            owner=owner,
            spender=self.address,
            value=amount,
            nonce=int(self.token.functions.nonces(owner).call()),
            deadline=deadline,
            version=self.permit_version() or erc20.DEFAULT_PERMIT_VERSION,
        )

    def sign_permit(
        self, account: LocalAccount, amount: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """``(v, r, s)`` of a permit for ``post_job_permit``, signed by a local key."""
        typed = self.permit_typed_data(account.address, amount, deadline)
        return erc20.sign_permit(account.key, typed)

    def build_approve(self, owner: str, amount: int, nonce: int | None = None) -> TxParams:
        """An unsigned ``approve(market, amount)`` on the token, gas estimated (pre-checked)."""
        if self.token is None:
            raise UserError("this market pays in ETH; there is nothing to approve")
        call = self.token.functions.approve(self.address, amount)
        params: TxParams = {"from": to_checksum_address(owner), "value": 0}
        try:
            gas = call.estimate_gas(params)
        except ContractLogicError as err:
            raise TransactionRefused("approve", revert_reason(err)) from None
        params["gas"] = gas * (100 + GAS_MARGIN_PERCENT) // 100
        params["nonce"] = (
            nonce if nonce is not None else self.w3.eth.get_transaction_count(owner, "pending")
        )
        return call.build_transaction(params)

    def post_call(
        self,
        spec_digest: bytes,
        designated: str,
        claim_deadline: int,
        work_timeout: int,
        review_window: int,
        price: int,
        permit: tuple[int, int, bytes, bytes] | None = None,
    ) -> tuple[str, tuple[Any, ...], int]:
        """``(function, args, value)`` that posts a job in this market's currency.

        ETH: ``post_job`` with the price as value. Token: ``post_job_token`` (after an
        approve), or ``post_job_permit`` when ``permit`` = (deadline, v, r, s) is given.
        Pass the result to :meth:`build`: ``client.build(fn, *args, sender=…, value=value)``.
        """
        terms = (spec_digest, designated, claim_deadline, work_timeout, review_window)
        if self.token is None:
            return "post_job", terms, price
        if permit is None:
            return "post_job_token", (*terms, price), 0
        return "post_job_permit", (*terms, price, *permit), 0

    def stake_call(self, amount: int) -> tuple[str, tuple[Any, ...], int]:
        """``(function, args, value)`` that adds ``amount`` to the sender's stake."""
        if self.token is None:
            return "deposit_stake", (), amount
        return "deposit_stake_token", (amount,), 0

    # -- events ----------------------------------------------------------------------------

    def topic(self, event_name: str) -> HexBytes:
        """The log topic of a JobMarket event; KeyError for a name the contract does not have."""
        return self._topic_by_name[event_name]

    def decode(self, log: LogReceipt) -> MarketEvent | None:
        """Decode one raw log of this contract; None for logs that are not JobMarket events.

        Decodes with eth_abi directly (the arguments are exactly what web3's ``process_log``
        gives, at a tenth of the cost: a node catching up decodes thousands of logs).
        """
        if not log["topics"]:
            return None
        layout = self._events_by_topic.get(HexBytes(log["topics"][0]))
        if layout is None:
            return None
        return MarketEvent(
            name=layout.name,
            args=layout.decode_args(log["topics"][1:], HexBytes(log["data"])),
            block_number=int(log["blockNumber"]),
            block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
            tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
        )

    def events(
        self,
        from_block: int,
        to_block: int | str = "latest",
        *,
        names: Iterable[str] | None = None,
        job_id: int | None = None,
        account: str | None = None,
    ) -> list[MarketEvent]:
        """Decoded events in a block range, in chain order, in one ``eth_getLogs`` call.

        ``job_id`` filters job events on their first indexed argument; ``account`` filters on
        the indexed address that follows it (requester in JobPosted, claimer in JobClaimed).
        Money events (Paid, Credited, Withdrawn, StakeDeposited, StakeWithdrawn,
        StakeLimitReached) index the account first: filter them with :meth:`account_events`.
        """
        topics: list[Any] = [[self.topic(name) for name in names] if names else None]
        topics.append(None if job_id is None else HexBytes(job_id.to_bytes(32, "big")))
        topics.append(None if account is None else _address_topic(account))
        return self._logs(from_block, to_block, topics)

    def account_events(
        self, account: str, from_block: int, to_block: int | str = "latest", *, names: Iterable[str]
    ) -> list[MarketEvent]:
        """Money and registry events of ``account`` (indexed first in those events)."""
        topics = [[self.topic(name) for name in names], _address_topic(account)]
        return self._logs(from_block, to_block, topics)

    def _logs(self, from_block: int, to_block: int | str, topics: list[Any]) -> list[MarketEvent]:
        while topics and topics[-1] is None:
            topics.pop()
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": to_block,
                "topics": topics,
            }
        )
        return [event for log in logs if (event := self.decode(log)) is not None]

    def job_event(self, job_id: int, name: str) -> MarketEvent | None:
        """The latest ``name`` event of ``job_id`` (e.g. its JobPosted or ResultSubmitted)."""
        found = self.events(self.start_block, names=[name], job_id=job_id)
        return found[-1] if found else None

    def spec_digest(self, job_id: int) -> bytes:
        """The spec digest the requester posted (from the job's JobPosted event)."""
        posted = self.job_event(job_id, "JobPosted")
        if posted is None:
            raise NotFound(f"job {job_id} has no JobPosted event on this chain", "check the job id")
        return bytes(posted.args["spec_digest"])

    # -- transactions ----------------------------------------------------------------------

    def build(
        self,
        function: str,
        *args: Any,
        sender: str,
        value: int = 0,
        nonce: int | None = None,
        block: str | None = None,
    ) -> TxParams:
        """An unsigned transaction calling ``function``, its gas estimated (and so pre-checked).

        Raises TransactionRefused with the contract's reason when the call would revert.
        ``block="pending"`` checks against the next block's time (deadlines that passed since
        the last block, e.g. on an idle auto-mining chain); the default is the latest block.
        """
        call = getattr(self.contract.functions, function)(*args)
        params: TxParams = {"from": to_checksum_address(sender), "value": value}
        try:
            gas = call.estimate_gas(params, block_identifier=block)
        except ContractLogicError as err:
            raise TransactionRefused(function, revert_reason(err)) from None
        params["gas"] = gas * (100 + GAS_MARGIN_PERCENT) // 100
        params["nonce"] = (
            nonce if nonce is not None else self.w3.eth.get_transaction_count(sender, "pending")
        )
        return call.build_transaction(params)

    def send_signed(self, raw_transaction: bytes) -> str:
        """Broadcast a signed transaction; returns its hash (``keccak`` of the signed bytes).

        When the answer to ``eth_sendRawTransaction`` is lost (a dropped connection; or a
        resend refused as "already known" / "nonce too low" because the first one arrived),
        the transaction is looked up by its hash: known to the node means sent, whatever the
        lost answer said. Only a transaction the node does not know is reported as not sent.
        """
        tx_hash = transaction_hash(raw_transaction)
        try:
            sent = HexBytes(self.w3.eth.send_raw_transaction(raw_transaction)).to_0x_hex()
        except (Web3RPCError, ValueError, *rpc.TRANSPORT_ERRORS, OSError) as err:
            if self.transaction_known(tx_hash):
                return tx_hash
            if isinstance(err, Web3RPCError | ValueError):
                message = getattr(err, "message", None) or str(err)
                raise UserError(
                    f"the RPC refused transaction {tx_hash}: {message}",
                    "nothing was sent; check the account's balance and pending transactions",
                ) from None
            raise Unreachable(
                f"transaction {tx_hash} was sent but the RPC's answer was lost and the node "
                "does not know it: it was dropped, nothing was spent",
                "check the RPC endpoint, then run the command again",
            ) from None
        return sent

    def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node holds ``tx_hash`` (pending or mined), asked with retries."""

        def lookup() -> bool:
            try:
                self.w3.eth.get_transaction(tx_hash)
            except TransactionNotFound:
                return False
            return True

        try:
            return rpc.with_retries(lookup, f"looking up transaction {tx_hash}")
        except Unreachable:
            raise Unreachable(
                f"transaction {tx_hash} was sent but the RPC stopped answering before saying "
                "whether it arrived; it may still be mined",
                f"look it up once the RPC answers (cast tx {tx_hash}) before sending again",
            ) from None

    def wait(self, tx_hash: str, function: str, timeout: float = RECEIPT_TIMEOUT_S) -> TxReceipt:
        """Wait for a receipt; a reverted transaction raises TransactionRefused with its reason."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=timeout, poll_latency=rpc.default_poll_interval(self.chain_id)
            )
        except TimeExhausted:
            raise UserError(
                f"{function} transaction {tx_hash} was not mined within {timeout:.0f} s",
                "check the chain and the gas price; the transaction may still be mined",
            ) from None
        if receipt["status"] != 1:
            raise TransactionRefused(function, self.mined_revert_reason(receipt), tx_hash)
        return receipt

    def mined_revert_reason(self, receipt: TxReceipt) -> str:
        """Why a mined transaction reverted: replayed on the state of its block."""
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        replay: TxParams = {"from": tx["from"], "to": tx["to"], "data": tx["input"]}
        replay["value"] = tx["value"]
        try:
            self.w3.eth.call(replay, block_identifier=receipt["blockNumber"])
        except ContractLogicError as err:
            return revert_reason(err)
        except Exception:
            pass
        return "reverted (the state changed before it was mined)"

    def transact(
        self, account: LocalAccount, function: str, *args: Any, value: int = 0
    ) -> TxReceipt:
        """Check, sign, send and wait for one call; raises TransactionRefused if refused."""
        tx = self.build(function, *args, sender=account.address, value=value)
        signed = account.sign_transaction(tx)
        tx_hash = self.send_signed(signed.raw_transaction)
        return self.wait(tx_hash, function)
