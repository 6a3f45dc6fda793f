"""Constants and helpers shared by the JobMarket contract tests (fixtures are in conftest.py)."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ape import chain
from ape.api import AccountAPI, ReceiptAPI
from ape.contracts import ContractContainer, ContractInstance
from ethpm_types import ContractType

from jobmarket.chain.artifact import bundle
from jobmarket.chain.states import JobState

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
PRICE = 10**16  # 0.01 ether
STAKE = 10**18  # 1 ether
CLAIM_WINDOW = 3_600
WORK_TIMEOUT = 1_800
REVIEW_WINDOW = 1_200
ARBITER_WINDOW = 3 * 86_400
MAX_BPS = 10_000
COLLATERAL_BPS = 1_000  # 10 % of the price
ABANDON_SLASH_BPS = 2_000  # 20 % of the collateral
COLLATERAL = PRICE * COLLATERAL_BPS // MAX_BPS
# What the requester receives when the provider abandons a claimed job (default parameters).
SLASH_ON_ABANDON = COLLATERAL * ABANDON_SLASH_BPS // MAX_BPS


def digest(label: str) -> bytes:
    """A 32-byte digest standing for a spec, result or capability document."""
    return hashlib.sha256(label.encode()).digest()


def set_next_timestamp(timestamp: int) -> None:
    """Make the next transaction's block.timestamp exactly ``timestamp``."""
    chain.pending_timestamp = timestamp


def next_timestamp() -> int:
    """Pin the next block's timestamp (one second after the head) and return it.

    anvil's "pending" timestamp is the head's until a block is mined, so deadlines computed from
    it could already have passed; pinning makes them exact.
    """
    timestamp = chain.blocks.head.timestamp + 1
    set_next_timestamp(timestamp)
    return timestamp


def only(events: Sequence[Any]) -> Any:
    """The one event of a kind a transaction emitted (fails if there are none or several)."""
    assert len(events) == 1, events
    return events[0]


def fees(receipt: ReceiptAPI) -> int:
    """Wei the sender paid for gas, to account for it in balance checks."""
    return receipt.total_fees_paid


def without_source_maps(contract_type: ContractType) -> ContractContainer:
    """A compiled contract without the source maps ape builds revert tracebacks from."""
    return ContractContainer(ContractType.model_validate(bundle(contract_type)))


@dataclass
class Jobs:
    """Posts jobs and drives them into any state, with the default cast."""

    market: ContractInstance
    requester: AccountAPI
    provider: AccountAPI
    arbiter: AccountAPI
    owner: AccountAPI

    def post(
        self,
        price: int = PRICE,
        designated: str = ZERO_ADDRESS,
        claim_window: int = CLAIM_WINDOW,
        work_timeout: int = WORK_TIMEOUT,
        review_window: int = REVIEW_WINDOW,
        sender: AccountAPI | None = None,
    ) -> int:
        self.market.post_job(
            digest(f"spec {self.market.job_count()}"),
            designated,
            next_timestamp() + claim_window,
            work_timeout,
            review_window,
            sender=sender or self.requester,
            value=price,
        )
        return self.market.job_count() - 1

    def claimed(self, **post_args) -> int:
        job_id = self.post(**post_args)
        self.market.claim(job_id, sender=self.provider)
        return job_id

    def submitted(self, **post_args) -> int:
        job_id = self.claimed(**post_args)
        self.market.submit_result(job_id, digest(f"result {job_id}"), sender=self.provider)
        return job_id

    def disputed(self, **post_args) -> int:
        job_id = self.submitted(**post_args)
        self.market.dispute(job_id, sender=self.requester)
        return job_id

    def in_state(self, state: JobState, **post_args) -> int:
        """A new job in ``state``, reached by the shortest path."""
        drivers: dict[JobState, Callable[[], int]] = {
            JobState.OPEN: lambda: self.post(**post_args),
            JobState.CLAIMED: lambda: self.claimed(**post_args),
            JobState.SUBMITTED: lambda: self.submitted(**post_args),
            JobState.DISPUTED: lambda: self.disputed(**post_args),
        }
        if state in drivers:
            return drivers[state]()
        if state is JobState.ACCEPTED:
            job_id = self.submitted(**post_args)
            self.market.accept(job_id, sender=self.requester)
        elif state is JobState.RESOLVED:
            job_id = self.disputed(**post_args)
            self.market.resolve(job_id, 5_000, sender=self.arbiter)
        elif state is JobState.CANCELED:
            job_id = self.post(**post_args)
            self.market.cancel(job_id, sender=self.requester)
        elif state is JobState.EXPIRED:
            job_id = self.post(claim_window=1, **post_args)
            set_next_timestamp(self.deadline(job_id) + 1)
            self.market.reclaim(job_id, sender=self.owner)
        else:
            raise ValueError(f"no job can be in state {state!r}")
        return job_id

    def state(self, job_id: int) -> JobState:
        return JobState(self.market.get_job(job_id).state)

    def deadline(self, job_id: int) -> int:
        return self.market.get_job(job_id).deadline


# ------------------------------------------------------------------ token markets

# The token kinds a market is tested with: (contract, decimals, fails quietly).
# usdc: reverts on failure, permit, 6 decimals, blacklist; quiet: returns false instead of
# reverting, 18 decimals; usdt: returns no boolean (Tether-style), 6 decimals; fee: like usdc
# but can take a fee on every transfer (the market must refuse it).
TOKEN_KINDS: dict[str, tuple[str, int, bool]] = {
    "usdc": ("TestToken", 6, False),
    "quiet": ("TestToken", 18, True),
    "usdt": ("NoReturnToken", 6, False),
    "fee": ("TestToken", 6, False),
}


@dataclass
class TokenMarket:
    """A market deployed with a test token, its providers staked and its requester funded."""

    kind: str
    token: ContractInstance
    market: ContractInstance
    unit: int  # one whole token, in base units

    @property
    def price(self) -> int:
        return 10 * self.unit

    @property
    def stake(self) -> int:
        return 1_000 * self.unit

    def fund(self, account: AccountAPI, amount: int) -> None:
        """Mint ``amount`` to ``account`` and let the market pull all of it."""
        self.token.mint(account, amount, sender=account)
        self.token.approve(self.market, 2**256 - 1, sender=account)

    def post(self, sender: AccountAPI, price: int | None = None, **overrides: Any) -> int:
        now = next_timestamp()
        args = {
            "spec_digest": digest(f"spec {self.market.job_count()}"),
            "designated": ZERO_ADDRESS,
            "claim_deadline": now + CLAIM_WINDOW,
            "work_timeout": WORK_TIMEOUT,
            "review_window": REVIEW_WINDOW,
        }
        args.update(overrides)
        self.market.post_job_token(
            *args.values(), self.price if price is None else price, sender=sender
        )
        return self.market.job_count() - 1

    def balance(self) -> int:
        return self.token.balanceOf(self.market)
