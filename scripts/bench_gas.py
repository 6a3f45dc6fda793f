"""Gas per JobMarket transaction, on a fresh local chain.

``make bench-gas`` (``ape run bench_gas --network ethereum:local:foundry`` on an anvil of its own)
deploys a fresh market, stakes a provider, runs one warm-up job and then every path a job can
take, and prints the gas each transaction used. The last line is ``lifecycle_gas=N``: post +
claim + submit + accept of a job in steady state (not the first job on the contract, provider
already staked), with the parameters `ape run deploy` defaults to (no fee, 10 % collateral).
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

import click
from ape import chain, project
from ape.api import AccountAPI, ReceiptAPI
from ape.cli import ConnectedProviderCommand
from ape.contracts import ContractInstance

from jobmarket.chain.deployments import (
    DEFAULT_ABANDON_SLASH_BPS,
    DEFAULT_ARBITER_WINDOW_S,
    DEFAULT_COLLATERAL_BPS,
)
from jobmarket.chain.states import JobState

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
PRICE = 10**16  # 0.01 ether
STAKE = 10**18
CLAIM_WINDOW = 3_600
WORK_TIMEOUT = 1_800
REVIEW_WINDOW = 1_800
LIFECYCLE = ("post_job", "claim", "submit_result", "accept")
STEADY_STATE = "happy path"


def _digest(label: str) -> bytes:
    """A realistic (non-zero, high-entropy) 32-byte digest, as a spec or result would have."""
    return hashlib.sha256(label.encode()).digest()


def _pin_next_block(after: int = 1) -> int:
    """Fix the next block's timestamp ``after`` seconds past the head's, and return it."""
    timestamp = chain.blocks.head.timestamp + after
    chain.pending_timestamp = timestamp
    return timestamp


@dataclass
class GasTable:
    """Gas used by each measured transaction, in the order measured."""

    rows: list[tuple[str, str, int]] = field(default_factory=list)

    def add(self, path: str, action: str, receipt: ReceiptAPI) -> None:
        self.rows.append((path, action, receipt.gas_used))

    def gas(self, path: str, action: str) -> int:
        """Gas of the first ``action`` measured on ``path``."""
        for row_path, row_action, gas in self.rows:
            if (row_path, row_action) == (path, action):
                return gas
        raise KeyError(f"{action} on {path!r} was not measured")

    def print(self) -> None:
        click.echo(f"{'path':<26} {'transaction':<20} {'gas':>10}")
        click.echo("-" * 58)
        for path, action, gas in self.rows:
            click.echo(f"{path:<26} {action:<20} {gas:>10,}")


@dataclass
class Bench:
    """A fresh market with its cast of accounts, and helpers that drive one job."""

    market: ContractInstance
    owner: AccountAPI
    arbiter: AccountAPI
    requester: AccountAPI
    provider: AccountAPI
    table: GasTable = field(default_factory=GasTable)
    serial: int = 0

    def step(self, path: str, action: str, sender: AccountAPI, *args: Any, **tx: Any) -> None:
        """Send ``action`` one second after the head and record its gas."""
        _pin_next_block()
        receipt = getattr(self.market, action)(*args, sender=sender, **tx)
        self.table.add(path, action, receipt)

    def post(self, path: str, claim_window: int = CLAIM_WINDOW) -> int:
        self.serial += 1
        posted_at = _pin_next_block()
        receipt = self.market.post_job(
            _digest(f"spec {self.serial}"),
            ZERO_ADDRESS,
            posted_at + claim_window,
            WORK_TIMEOUT,
            REVIEW_WINDOW,
            sender=self.requester,
            value=PRICE,
        )
        self.table.add(path, "post_job", receipt)
        return self.market.job_count() - 1

    def claimed(self, path: str, **post: Any) -> int:
        job_id = self.post(path, **post)
        self.step(path, "claim", self.provider, job_id)
        return job_id

    def submitted(self, path: str) -> int:
        job_id = self.claimed(path)
        self.step(path, "submit_result", self.provider, job_id, _digest(f"result {job_id}"))
        return job_id

    def disputed(self, path: str) -> int:
        job_id = self.submitted(path)
        self.step(path, "dispute", self.requester, job_id)
        return job_id

    def accepted(self, path: str) -> int:
        job_id = self.submitted(path)
        self.step(path, "accept", self.requester, job_id)
        if JobState(self.market.get_job(job_id).state) is not JobState.ACCEPTED:
            raise click.ClickException(f"job {job_id} did not end ACCEPTED; the bench is broken")
        return job_id

    def wait_past_deadline(self, job_id: int) -> None:
        deadline = self.market.get_job(job_id).deadline
        chain.pending_timestamp = deadline + 1
        chain.mine()


def run_paths(bench: Bench) -> None:
    """Every path a job can take, plus the provider's and owner's own transactions."""
    market, owner, provider = bench.market, bench.owner, bench.provider
    bench.table.add(
        "provider",
        "register (+stake)",
        market.register(_digest("capabilities"), sender=provider, value=STAKE),
    )
    bench.step("provider", "deposit_stake", provider, value=STAKE)

    bench.accepted("warm-up (first job)")
    bench.accepted(STEADY_STATE)
    bench.accepted(f"{STEADY_STATE} (again)")

    job_id = bench.submitted("finalize")
    bench.wait_past_deadline(job_id)
    bench.step("finalize", "finalize", owner, job_id)

    job_id = bench.post("cancel")
    bench.step("cancel", "cancel", bench.requester, job_id)

    job_id = bench.post("reclaim open")
    bench.wait_past_deadline(job_id)
    bench.step("reclaim open", "reclaim", owner, job_id)

    job_id = bench.claimed("reclaim claimed")
    bench.wait_past_deadline(job_id)
    bench.step("reclaim claimed", "reclaim", owner, job_id)

    job_id = bench.claimed("abandon + reopen")
    bench.step("abandon + reopen", "abandon", provider, job_id)
    bench.step("abandon + reopen", "claim", provider, job_id)

    job_id = bench.claimed("abandon + expire", claim_window=60)
    chain.pending_timestamp = market.get_job(job_id).claim_deadline + 1
    chain.mine()
    bench.step("abandon + expire", "abandon", provider, job_id)

    for bps, path in ((10_000, "resolve all to provider"), (0, "resolve all to requester")):
        job_id = bench.disputed(path)
        bench.step(path, "resolve", bench.arbiter, job_id, bps)
    job_id = bench.disputed("resolve 60/40")
    bench.step("resolve 60/40", "resolve", bench.arbiter, job_id, 6_000)

    job_id = bench.disputed("close_dispute")
    bench.wait_past_deadline(job_id)
    bench.step("close_dispute", "close_dispute", owner, job_id)

    bench.step("owner", "set_params", owner, 100, DEFAULT_COLLATERAL_BPS, DEFAULT_ABANDON_SLASH_BPS)
    bench.accepted("happy path, 1% fee")
    bench.step("money", "withdraw", owner)  # the fee credited by the job above
    bench.step("provider", "withdraw_stake", provider, STAKE // 2)
    bench.step("owner", "pause", owner)
    bench.step("owner", "unpause", owner)


@click.command(cls=ConnectedProviderCommand)
def cli() -> None:
    """Print gas per JobMarket transaction; the last line is lifecycle_gas=N."""
    from ape import accounts

    owner, arbiter, requester, provider = accounts.test_accounts[:4]
    market = owner.deploy(
        project.JobMarket,
        arbiter,
        DEFAULT_ARBITER_WINDOW_S,
        DEFAULT_COLLATERAL_BPS,
        DEFAULT_ABANDON_SLASH_BPS,
        ZERO_ADDRESS,
    )
    bench = Bench(market, owner, arbiter, requester, provider)
    bench.table.add("deploy", "JobMarket", chain.get_receipt(market.txn_hash))
    run_paths(bench)

    bench.table.print()
    parts = [bench.table.gas(STEADY_STATE, action) for action in LIFECYCLE]
    click.echo()
    click.echo(
        "steady-state lifecycle: "
        + " + ".join(f"{action} {gas:,}" for action, gas in zip(LIFECYCLE, parts, strict=True))
    )
    click.echo(f"lifecycle_gas={sum(parts)}")
