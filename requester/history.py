"""A job's life as the chain recorded it: its events as steps, with who paid what for each.

The chain is the requester's ledger: each of the requester's own transactions on a job
(post, cancel, accept, dispute, reclaim) emits a job event, so reading the job's events and
their receipts shows every step, its gas and its cost, from any machine and at any later time.
:class:`JobFeed` follows the events from a cursor, so :meth:`requester.job.Job.wait` sees each
step once, as it happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from jobmarket.chain.client import MarketClient, MarketEvent
from jobmarket.chain.states import JobState
from jobmarket.chain.units import ETH, Currency, amount_json
from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.errors import NotFound

#: Blocks per ``eth_getLogs`` call: public RPCs refuse wide ranges; a local chain never notices.
LOG_RANGE = 10_000

#: Events that move a job, and the state each leaves it in (JobAbandoned: see ``state_after``).
JOB_EVENTS = {
    "JobPosted": JobState.OPEN,
    "JobClaimed": JobState.CLAIMED,
    "JobAbandoned": JobState.OPEN,
    "ResultSubmitted": JobState.SUBMITTED,
    "JobAccepted": JobState.ACCEPTED,
    "JobDisputed": JobState.DISPUTED,
    "JobResolved": JobState.RESOLVED,
    "JobCanceled": JobState.CANCELED,
    "JobExpired": JobState.EXPIRED,
}


def scan(
    client: MarketClient,
    start: int,
    end: int,
    *,
    names: list[str] | None = None,
    job_id: int | None = None,
    account: str | None = None,
    step: int = LOG_RANGE,
) -> Iterator[MarketEvent]:
    """Events in ``[start, end]`` in chain order, read ``step`` blocks per call."""
    for low in range(start, end + 1, step):
        high = min(end, low + step - 1)
        yield from client.events(low, high, names=names, job_id=job_id, account=account)


@dataclass(frozen=True)
class TxCost:
    """What one transaction cost its sender."""

    tx_hash: str
    sender: str
    gas_used: int
    gas_price: int

    @property
    def cost(self) -> int:
        return self.gas_used * self.gas_price


@dataclass(frozen=True)
class JobStep:
    """One event of a job: the state it left the job in, when, and the transaction behind it."""

    job_id: int
    event: str
    state: JobState
    args: dict[str, Any]
    block_number: int
    timestamp: int
    tx: TxCost
    #: The market's currency: what the amounts in ``args`` are counted in.
    currency: Currency = ETH

    def by(self, account: str) -> bool:
        return self.tx.sender == account

    @property
    def summary(self) -> str:
        """What happened, in words (amounts in the market's currency)."""
        a = self.args
        money = self.currency.format
        if self.event == "JobPosted":
            who = f" for {a['designated']}" if int(a["designated"], 16) else ""
            return f"posted{who} for {money(a['price'])}"
        if self.event == "JobClaimed":
            return f"claimed by {a['claimer']}"
        if self.event == "JobAbandoned":
            again = "reopened" if a["reopened"] else "not reopened (claim deadline passed)"
            return f"abandoned by {a['claimer']}, {again}"
        if self.event == "ResultSubmitted":
            return f"result {result_cid(a['result_digest'])} submitted"
        if self.event == "JobAccepted":
            return f"accepted: provider paid {money(a['payout'])}"
        if self.event == "JobDisputed":
            return "disputed: the arbiter settles it"
        if self.event == "JobResolved":
            by = "the arbiter" if a["by_arbiter"] else "timeout (50/50)"
            return (
                f"resolved by {by}: {money(a['to_requester'])} to the requester, "
                f"{money(a['to_provider'])} to the provider"
            )
        if self.event == "JobCanceled":
            return f"canceled: {money(a['refund'])} refunded"
        if self.event == "JobExpired":
            slashed = f" + {money(a['slashed'])} collateral" if a["slashed"] else ""
            return f"expired: {money(a['refund'])} refunded{slashed}"
        return self.event  # pragma: no cover - JOB_EVENTS lists every event we read

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "state": self.state.name,
            "summary": self.summary,
            "block": self.block_number,
            "timestamp": self.timestamp,
            "tx_hash": self.tx.tx_hash,
            "sender": self.tx.sender,
            "gas_used": self.tx.gas_used,
            "gas_cost_wei": str(self.tx.cost),
        }


def state_after(event: MarketEvent) -> JobState:
    if event.name == "JobAbandoned" and not event.args["reopened"]:
        return JobState.EXPIRED
    return JOB_EVENTS[event.name]


def result_cid(digest: bytes) -> Cid:
    """The result directory a ``ResultSubmitted`` digest names (dag-pb CIDv1, ``bafybei…``)."""
    return Cid.from_digest(bytes(digest), DAG_PB)


def spec_cid(digest: bytes) -> Cid:
    """The job spec a ``JobPosted`` digest names (raw CIDv1, ``bafkrei…``)."""
    return Cid.from_digest(bytes(digest), RAW)


@dataclass
class Costs:
    """Money that moved for the requester on one job: escrow, refunds and payouts in the
    market's currency (wei, or token units), gas in wei."""

    escrowed: int = 0
    refunded: int = 0
    to_provider: int = 0
    gas: int = 0
    gas_used: int = 0
    currency: Currency = ETH

    @property
    def spent(self) -> int:
        """The price the job has cost so far, in the market's currency (held escrow counts)."""
        return self.escrowed - self.refunded

    @property
    def net(self) -> int:
        """What the job has cost the requester so far in wei (escrow still held counts as
        spent); on a token market the gas only, the price being counted by :attr:`spent`."""
        return (self.spent if self.currency.is_eth else 0) + self.gas

    def add(self, step: JobStep, requester: str) -> None:
        a = step.args
        if step.event == "JobPosted":
            self.escrowed += int(a["price"])
        elif step.event == "JobCanceled":
            self.refunded += int(a["refund"])
        elif step.event == "JobExpired":
            self.refunded += int(a["refund"]) + int(a["slashed"])
        elif step.event == "JobAbandoned":
            self.refunded += int(a["slashed"])
        elif step.event == "JobResolved":
            self.refunded += int(a["to_requester"])
            self.to_provider += int(a["to_provider"])
        elif step.event == "JobAccepted":
            self.to_provider += int(a["payout"])
        if step.by(requester):
            self.gas += step.tx.cost
            self.gas_used += step.tx.gas_used

    def to_json(self) -> dict[str, Any]:
        return {
            **amount_json("escrowed", self.escrowed, self.currency),
            **amount_json("refunded", self.refunded, self.currency),
            **amount_json("to_provider", self.to_provider, self.currency),
            "gas_used": self.gas_used,
            "gas_cost_wei": str(self.gas),
            "net_wei": str(self.net),
        }


class StepReader:
    """Turns job events into steps, fetching each block time and receipt once."""

    def __init__(self, client: MarketClient) -> None:
        self.client = client
        self._timestamps: dict[int, int] = {}
        self._costs: dict[str, TxCost] = {}

    def step(self, event: MarketEvent) -> JobStep:
        return JobStep(
            job_id=int(event.args["job_id"]),
            event=event.name,
            state=state_after(event),
            args=event.args,
            block_number=event.block_number,
            timestamp=self._timestamp(event.block_number),
            tx=self._cost(event.tx_hash),
            currency=self.client.currency,
        )

    def _timestamp(self, block_number: int) -> int:
        if block_number not in self._timestamps:
            block = self.client.w3.eth.get_block(block_number)
            self._timestamps[block_number] = int(block["timestamp"])
        return self._timestamps[block_number]

    def _cost(self, tx_hash: str) -> TxCost:
        if tx_hash not in self._costs:
            receipt = self.client.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            self._costs[tx_hash] = TxCost(
                tx_hash=tx_hash,
                sender=to_checksum_address(receipt["from"]),
                gas_used=int(receipt["gasUsed"]),
                gas_price=int(receipt["effectiveGasPrice"]),
            )
        return self._costs[tx_hash]


class JobFeed:
    """Follows one job's events from a block cursor; each :meth:`poll` returns only new steps."""

    def __init__(self, client: MarketClient, job_id: int, cursor: int) -> None:
        self.client = client
        self.job_id = job_id
        self.cursor = cursor
        self.steps: list[JobStep] = []
        self._reader = StepReader(client)

    @classmethod
    def from_post(cls, client: MarketClient, job_id: int) -> JobFeed:
        """A feed starting at the job's ``JobPosted`` block (found by one log scan)."""
        head = client.w3.eth.block_number
        for event in scan(client, client.start_block, head, names=["JobPosted"], job_id=job_id):
            return cls(client, job_id, event.block_number)
        raise NotFound(
            f"job {job_id} has no JobPosted event on this chain",
            "check the job id (`requester jobs` lists yours)",
        )

    def poll(self, head: int | None = None) -> list[JobStep]:
        """Steps mined since the last poll up to ``head`` (default: the latest block)."""
        head = self.client.w3.eth.block_number if head is None else head
        if head < self.cursor:
            return []
        events = scan(self.client, self.cursor, head, names=list(JOB_EVENTS), job_id=self.job_id)
        new = [self._reader.step(event) for event in events]
        self.cursor = head + 1
        self.steps.extend(new)
        return new

    def costs(self, requester: str) -> Costs:
        total = Costs(currency=self.client.currency)
        for step in self.steps:
            total.add(step, requester)
        return total

    def last_result(self) -> JobStep | None:
        submitted = [step for step in self.steps if step.event == "ResultSubmitted"]
        return submitted[-1] if submitted else None


class AccountFeed:
    """Follows every job one requester posts, from a block cursor (``requester watch``)."""

    def __init__(self, client: MarketClient, requester: str, cursor: int, job_ids: set[int]):
        self.client = client
        self.requester = requester
        self.cursor = cursor
        self.job_ids = set(job_ids)
        self._reader = StepReader(client)

    def poll(self, head: int | None = None) -> list[JobStep]:
        """Steps of this requester's jobs (new posts included) mined since the last poll."""
        head = self.client.w3.eth.block_number if head is None else head
        if head < self.cursor:
            return []
        new = []
        for event in scan(self.client, self.cursor, head, names=list(JOB_EVENTS)):
            if event.name == "JobPosted" and event.args["requester"] == self.requester:
                self.job_ids.add(int(event.args["job_id"]))
            if event.job_id in self.job_ids:
                new.append(self._reader.step(event))
        self.cursor = head + 1
        return new
