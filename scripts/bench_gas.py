"""Gas per JobMarket transaction, on a fresh local chain.

``make bench-gas`` (``ape run bench_gas --network ethereum:local:foundry`` on an anvil of its own)
deploys a fresh market, stakes a provider, runs one warm-up job and then every path a job can
take, and prints the gas each transaction used. The last line is ``lifecycle_gas=N``: post +
claim + submit + accept of a job in steady state (not the first job on the contract, provider
already staked), with the parameters `ape run deploy` defaults to (no fee, 10 % collateral).

Then the same on a market that pays in a 6-decimal ERC-20 with EIP-2612 permit (the test token
``contracts/test/TestToken.vy``, standard storage layout), the requester posting with a permit:
the line before the last is ``lifecycle_gas_erc20=M``. Posting after a separate ``approve`` is
measured too (both transactions).
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
from jobmarket.chain.token import permit_typed_data, sign_permit

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
PRICE = 10**16  # 0.01 ether
STAKE = 10**18
CLAIM_WINDOW = 3_600
WORK_TIMEOUT = 1_800
REVIEW_WINDOW = 1_800
LIFECYCLE = ("post_job", "claim", "submit_result", "accept")
TOKEN_LIFECYCLE = ("post_job_permit", "claim", "submit_result", "accept")
TOKEN_DECIMALS = 6
TOKEN_PRICE = 10 * 10**TOKEN_DECIMALS  # 10 tokens
TOKEN_STAKE = 1_000 * 10**TOKEN_DECIMALS
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

    def step(
        self,
        path: str,
        action: str,
        sender: AccountAPI,
        *args: Any,
        on: ContractInstance | None = None,
        **tx: Any,
    ) -> None:
        """Send ``action`` (to the market, or to ``on``) one second after the head and record
        its gas."""
        _pin_next_block()
        receipt = getattr(on or self.market, action)(*args, sender=sender, **tx)
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


@dataclass
class TokenBench(Bench):
    """The same cast on a market that pays in a 6-decimal token; posts go through a permit."""

    token: ContractInstance | None = None

    def post(self, path: str, claim_window: int = CLAIM_WINDOW) -> int:
        assert self.token is not None
        self.serial += 1
        posted_at = _pin_next_block()
        typed = permit_typed_data(
            token_name=self.token.name(),
            chain_id=chain.chain_id,
            token=self.token.address,
            owner=self.requester.address,
            spender=self.market.address,
            value=TOKEN_PRICE,
            nonce=self.token.nonces(self.requester),
            deadline=posted_at + 600,
        )
        v, r, s = sign_permit(self.requester.private_key, typed)
        receipt = self.market.post_job_permit(
            _digest(f"spec {self.serial}"),
            ZERO_ADDRESS,
            posted_at + claim_window,
            WORK_TIMEOUT,
            REVIEW_WINDOW,
            TOKEN_PRICE,
            posted_at + 600,
            v,
            r,
            s,
            sender=self.requester,
        )
        self.table.add(path, "post_job_permit", receipt)
        return self.market.job_count() - 1


def run_token_paths(owner: AccountAPI, arbiter: AccountAPI, requester, provider) -> TokenBench:
    token = owner.deploy(project.TestToken, "Test USD", "tUSD", TOKEN_DECIMALS, False)
    market = owner.deploy(
        project.JobMarket,
        arbiter,
        DEFAULT_ARBITER_WINDOW_S,
        DEFAULT_COLLATERAL_BPS,
        DEFAULT_ABANDON_SLASH_BPS,
        token,
    )
    bench = TokenBench(market, owner, arbiter, requester, provider, token=token)
    bench.table.add("erc20 deploy", "JobMarket", chain.get_receipt(market.txn_hash))
    token.mint(provider, 3 * TOKEN_STAKE, sender=provider)  # a balance left: steady withdraws
    token.mint(requester, 10**6 * TOKEN_PRICE, sender=requester)
    bench.table.add(
        "erc20 provider", "register", market.register(_digest("capabilities"), sender=provider)
    )
    bench.step("erc20 provider", "approve", provider, market, 2 * TOKEN_STAKE, on=token)
    bench.step("erc20 provider", "deposit_stake_token", provider, TOKEN_STAKE)
    bench.step("erc20 provider", "deposit_stake_token", provider, TOKEN_STAKE)

    bench.accepted("erc20 warm-up (first job)")
    bench.accepted(f"erc20 {STEADY_STATE}")
    bench.accepted(f"erc20 {STEADY_STATE} (again)")

    path = "erc20 approve + post_job_token"
    bench.step(path, "approve", requester, market, TOKEN_PRICE, on=token)
    _pin_next_block()
    receipt = market.post_job_token(
        _digest("spec approved"),
        ZERO_ADDRESS,
        chain.pending_timestamp + CLAIM_WINDOW,
        WORK_TIMEOUT,
        REVIEW_WINDOW,
        TOKEN_PRICE,
        sender=requester,
    )
    bench.table.add(path, "post_job_token", receipt)
    job_id = market.job_count() - 1
    bench.step(path, "cancel", requester, job_id)
    bench.step("erc20 provider", "withdraw_stake", provider, TOKEN_STAKE // 2)
    return bench


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

    token_bench = run_token_paths(owner, arbiter, requester, provider)

    bench.table.print()
    token_bench.table.print()
    parts = [bench.table.gas(STEADY_STATE, action) for action in LIFECYCLE]
    token_parts = [
        token_bench.table.gas(f"erc20 {STEADY_STATE}", action) for action in TOKEN_LIFECYCLE
    ]
    click.echo()
    for label, actions, gases in (
        ("erc20 (permit) lifecycle", TOKEN_LIFECYCLE, token_parts),
        ("steady-state lifecycle", LIFECYCLE, parts),
    ):
        steps = zip(actions, gases, strict=True)
        click.echo(f"{label}: " + " + ".join(f"{action} {gas:,}" for action, gas in steps))
    click.echo(f"lifecycle_gas_erc20={sum(token_parts)}")
    click.echo(f"lifecycle_gas={sum(parts)}")
