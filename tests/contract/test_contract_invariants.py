"""Random sequences of market actions never break solvency, settle twice, or overdraw a stake.

A Hypothesis state machine drives the real contract on anvil next to a small Python model of it.
After every step it checks, against the chain:

- solvency: ``balance == Σ escrow of non-terminal jobs + Σ stakes + Σ credits``;
- every provider's stake, locked collateral and every credit equal the model's (so no amount is
  ever wrong, and ``locked <= stake``: a stake never goes negative);
- no job emits a second settlement event, and each touched job's state equals the model's.

Through ape a transaction takes about 0.1 s, so single-transition rules would rarely get past
OPEN. Instead each example starts by running every lifecycle path once (with requesters,
providers and dispute splits Hypothesis picks), and its rules move jobs several states at once:
post-and-drive, a whole lifecycle, a few more moves on an existing job, a paused interlude, plus
parameter changes, withdrawals and stake moves. Moves that must fail (late, wrong state, paused)
are tried too and must revert. A hostile requester that refuses payments makes credits appear.
Most examples also put one provider's stake next to the 96-bit limit of its packed field
(funded with anvil_setBalance, a real deposit), so payouts overflow it: the settlement must go
through, the stake stop at the limit and the excess become a credit the provider withdraws.
Each example runs from a chain snapshot and is rolled back afterwards; every transaction has a
pinned timestamp, so a run does not depend on the wall clock.

The same machine runs on an ETH market and on a market of each test token kind
(contract_helpers.TOKEN_KINDS): there the balance is the token's, stakes are deposited with
``deposit_stake_token``, the refusing requester is an account the token blacklists (its refunds
become credits; its withdrawals fail until it is unblocked), and on the fee-on-transfer token a
rule switches the fee on, checks that posts and deposits are refused, and switches it off.

Profiles: ``ci`` (default: derandomised, 4 examples of 20 steps on ETH and 2 of 12 per token
kind, about 2 minutes on 2 cores in all, each example running every lifecycle path first; the
run fails if any transition was never reached) and ``explore`` (random, 60 examples of 40
steps: ``HYPOTHESIS_PROFILE=explore make test``), chosen with ``HYPOTHESIS_PROFILE``. The states and
transitions reached are printed (``-s``), recorded as a test property, and asserted complete.
"""

import os
from collections import Counter
from dataclasses import dataclass, field

import ape
import pytest
from ape import chain
from contract_helpers import (
    ABANDON_SLASH_BPS,
    ARBITER_WINDOW,
    COLLATERAL_BPS,
    MAX_BPS,
    TOKEN_KINDS,
    ZERO_ADDRESS,
    digest,
    next_timestamp,
    set_next_timestamp,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from jobmarket.chain.states import JobState

S = JobState
REFUSE, ACCEPT = 1, 0
SETTLEMENT_EVENTS = ("JobAccepted", "JobResolved", "JobCanceled", "JobExpired")
ACTIONS = (
    "claim",
    "submit",
    "abandon",
    "accept",
    "finalize",
    "dispute",
    "resolve",
    "close_dispute",
    "cancel",
    "reclaim",
)
# Moves that fit a job's state ("wait" first lets its deadline pass). A drawn number picks one;
# numbers from PROBE_FROM on pick any action instead, mostly illegal ones that must revert.
MOVES: dict[JobState, tuple[tuple[str, ...], ...]] = {
    JobState.OPEN: (("claim",), ("claim",), ("cancel",), ("wait", "reclaim"), ("wait", "claim")),
    JobState.CLAIMED: (
        ("submit",),
        ("submit",),
        ("abandon",),
        ("wait", "reclaim"),
        ("wait", "submit"),
    ),
    JobState.SUBMITTED: (("accept",), ("dispute",), ("wait", "finalize"), ("wait", "dispute")),
    JobState.DISPUTED: (("resolve",), ("resolve",), ("wait", "close_dispute"), ("wait", "resolve")),
}
PROBE_FROM = 80
# The largest stake the packed provider slot holds; payouts beyond it become credits.
MAX_STAKE = 2**96 - 1
OVER_STAKE_LIMIT = "payout over the stake limit credited"
# Whole lifecycles, including late moves that must be refused on the way.
# ("last call" claims exactly at the claim deadline, so an abandon right after expires the job.)
PATHS: tuple[tuple[str, ...], ...] = (
    ("claim", "submit", "dispute", "resolve"),
    ("claim", "abandon", "claim", "submit", "accept"),
    ("last call", "abandon", "reclaim"),
    ("claim", "submit", "dispute", "wait", "resolve", "close_dispute"),
    ("claim", "submit", "accept"),
    ("claim", "submit", "wait", "dispute", "finalize"),
    ("claim", "wait", "abandon", "submit", "reclaim"),
    ("wait", "claim", "reclaim"),
    ("cancel", "claim"),
)

settings.register_profile(
    "ci",
    max_examples=4,
    stateful_step_count=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci-token",
    max_examples=2,
    stateful_step_count=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

# States reached, transitions taken and moves tried, over every example of the run.
REACHED: Counter = Counter()
# Every transition of the contract, as recorded in REACHED; each run must take them all.
TRANSITIONS = {
    "OPEN -claim-> CLAIMED",
    "OPEN -cancel-> CANCELED",
    "OPEN -reclaim-> EXPIRED",
    "CLAIMED -submit-> SUBMITTED",
    "CLAIMED -abandon-> OPEN",
    "CLAIMED -abandon-> EXPIRED",
    "CLAIMED -reclaim-> EXPIRED",
    "SUBMITTED -accept-> ACCEPTED",
    "SUBMITTED -finalize-> ACCEPTED",
    "SUBMITTED -dispute-> DISPUTED",
    "DISPUTED -resolve-> RESOLVED",
    "DISPUTED -close_dispute-> RESOLVED",
}


@dataclass
class ModelJob:
    requester: str
    price: int
    designated: str | None
    claim_deadline: int
    work_timeout: int
    review_window: int
    fee_bps: int
    collateral: int
    slash_bps: int
    state: JobState = S.OPEN
    claimer: str | None = None
    deadline: int = 0
    settlements: int = 0


@dataclass
class Model:
    """What the contract should hold."""

    jobs: dict[int, ModelJob] = field(default_factory=dict)
    stakes: dict[str, int] = field(default_factory=dict)
    locked: dict[str, int] = field(default_factory=dict)
    credits: Counter = field(default_factory=Counter)
    params: tuple[int, int, int] = (0, COLLATERAL_BPS, ABANDON_SLASH_BPS)
    paused: bool = False
    hostile_refuses: bool = True

    def escrow(self) -> int:
        return sum(job.price for job in self.jobs.values() if not job.state.is_terminal)


class MarketMachine(RuleBasedStateMachine):
    """The contract and its model, side by side. Class attributes are set by the test."""

    market = owner = arbiter = requester = stranger = hostile = None
    providers: tuple = ()
    # The market's token (None: an ETH market), and its price unit (gwei for ETH).
    token = None
    price_unit = 10**9
    # Whether the token can be made to take a fee on transfer (the "fee" kind).
    fee_token = False

    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = chain.snapshot()
        self.model = Model()
        for provider in self.providers:
            info = self.market.provider_info(provider)
            self.model.stakes[provider.address] = info.stake
            self.model.locked[provider.address] = info.locked
        self.accounts = [self.owner, self.requester, self.stranger, self.hostile, *self.providers]
        self.touched: set[int] = set()

    def teardown(self) -> None:
        chain.restore(self.snapshot)

    # ------------------------------------------------------------ plumbing

    def send(self, actor, function: str, *args, value: int = 0, at: int | None = None):
        """Send a market call as ``actor`` at block time ``at`` (default: one second on).

        The hostile contract relays its own calls. Every transaction of the machine has a
        pinned timestamp, so a run does not depend on the wall clock.
        """
        if at is None:
            next_timestamp()
        else:
            set_next_timestamp(at)
        if actor is self.hostile and self.token is None:
            data = getattr(self.market, function).encode_input(*args)
            return self.hostile.execute(data, value, sender=self.stranger)
        return getattr(self.market, function)(*args, sender=actor, value=value)

    def pay_requester(self, job: ModelJob, amount: int) -> None:
        """A push to the requester; the hostile requester's refusals become credits."""
        if amount and job.requester == self.hostile.address and self.model.hostile_refuses:
            self.model.credits[job.requester] += amount

    def configure_hostile(self, refuse: bool) -> None:
        next_timestamp()
        if self.token is None:
            self.hostile.configure(REFUSE if refuse else ACCEPT, b"", sender=self.stranger)
        else:
            self.token.set_blocked(self.hostile, refuse, sender=self.stranger)
        self.model.hostile_refuses = refuse

    def deposit(self, account, amount: int, legal: bool = True):
        """Add ``amount`` to ``account``'s stake in the market's currency (minted first)."""
        if self.token is None:
            return self.attempt(legal, account, "deposit_stake", value=amount)
        next_timestamp()
        self.token.mint(account, amount, sender=account)
        return self.attempt(legal, account, "deposit_stake_token", amount)

    def balance(self) -> int:
        return self.market.balance if self.token is None else self.token.balanceOf(self.market)

    def record(self, receipt, job_id: int) -> None:
        for name in SETTLEMENT_EVENTS:
            for log in receipt.events.filter(getattr(self.market, name)):
                self.model.jobs[log.job_id].settlements += 1
        self.touched.add(job_id)

    def attempt(self, legal: bool, actor, function: str, *args, value=0, at=None):
        if legal:
            return self.send(actor, function, *args, value=value, at=at)
        with ape.reverts():
            self.send(actor, function, *args, value=value, at=at)
        return None

    # ------------------------------------------------------------ rules

    @initialize(
        target=jobs,
        requesters=st.lists(
            st.sampled_from(["requester", "hostile"]), min_size=len(PATHS), max_size=len(PATHS)
        ),
        providers=st.lists(st.sampled_from([0, 1]), min_size=len(PATHS), max_size=len(PATHS)),
        bps=st.sampled_from([0, 2_500, 10_000]),
        near_limit=st.sampled_from([0, 1, None]),
        headroom=st.sampled_from([0, 10**16, 5 * 10**18]),
    )
    def every_lifecycle(self, requesters, providers, bps, near_limit, headroom):
        """Each example starts by running every path once, so every transition is exercised
        (by accounts Hypothesis picks); the rules then interleave more on top. Before that, one
        provider's stake may be filled to ``headroom`` wei below the stake limit."""
        self.configure_hostile(refuse=True)
        if near_limit is not None:
            self.fill_stake(self.providers[near_limit], headroom)
        job_ids = []
        for path, requester, provider in zip(PATHS, requesters, providers, strict=True):
            job_id = self.post_job(requester, 10**7, None, 3_600)
            for action in path:
                self.act(job_id, action, self.providers[provider], bps)
            job_ids.append(job_id)
        return multiple(*job_ids)

    @rule(
        target=jobs,
        requester=st.sampled_from(["requester", "hostile"]),
        price_gwei=st.sampled_from([1, 10**7, 10**9, 3 * 10**9]),
        designated=st.sampled_from([None, 0, 1]),
        claim_window=st.sampled_from([30, 3_600]),
        picks=st.lists(st.integers(0, 99), max_size=4),
        provider=st.sampled_from([0, 1]),
        bps=st.sampled_from([0, 2_500, 10_000]),
    )
    def post(self, requester, price_gwei, designated, claim_window, picks, provider, bps):
        """Post a job and take it straight on for a few moves."""
        job_id = self.post_job(requester, price_gwei, designated, claim_window)
        if isinstance(job_id, int):
            for pick in picks:
                for action in self.moves(job_id, pick):
                    self.act(job_id, action, self.providers[provider], bps)
        return job_id

    def post_job(self, requester, price_gwei, designated, claim_window):
        sender = getattr(self, requester)
        price = price_gwei * self.price_unit
        designated_address = None if designated is None else self.providers[designated].address
        now = next_timestamp()
        fee_bps, collateral_bps, slash_bps = self.model.params
        args = (
            digest(f"spec {len(self.model.jobs)}"),
            designated_address or ZERO_ADDRESS,
            now + claim_window,
            600,
            300,
        )
        function, value = "post_job", price
        if self.token is not None:
            function, value, args = "post_job_token", 0, (*args, price)
        if self.model.paused:
            self.attempt(False, sender, function, *args, value=value, at=now)
            return multiple()
        blocked = self.token is not None and sender is self.hostile and self.model.hostile_refuses
        if blocked:  # a blacklisted account cannot pay: it is blacklisted once it has posted
            self.token.set_blocked(sender, False, sender=self.stranger)
        self.send(sender, function, *args, value=value, at=now)
        if blocked:
            self.token.set_blocked(sender, True, sender=self.stranger)
        job_id = self.market.job_count() - 1
        self.model.jobs[job_id] = ModelJob(
            requester=sender.address,
            price=price,
            designated=designated_address,
            claim_deadline=now + claim_window,
            work_timeout=600,
            review_window=300,
            fee_bps=fee_bps,
            collateral=price * collateral_bps // MAX_BPS,
            slash_bps=slash_bps,
            deadline=now + claim_window,
        )
        self.touched.add(job_id)
        REACHED[S.OPEN.name] += 1
        return job_id

    @rule(
        target=jobs,
        requester=st.sampled_from(["requester", "hostile"]),
        price_gwei=st.sampled_from([1, 10**7, 10**9, 3 * 10**9]),
        designated=st.sampled_from([None, 0, 1]),
        path=st.sampled_from(PATHS),
        provider=st.sampled_from([0, 1]),
        bps=st.sampled_from([0, 2_500, 10_000]),
    )
    def lifecycle(self, requester, price_gwei, designated, path, provider, bps):
        """Post a job and run it through a whole lifecycle in one step."""
        job_id = self.post_job(requester, price_gwei, designated, 3_600)
        if isinstance(job_id, int):
            for action in path:
                self.act(job_id, action, self.providers[provider], bps)
        return job_id

    @rule(
        job_id=jobs,
        picks=st.lists(st.integers(0, 99), min_size=1, max_size=4),
        provider=st.sampled_from([0, 1]),
        bps=st.sampled_from([0, 2_500, 10_000]),
    )
    def drive(self, job_id, picks, provider, bps):
        """Take the job up to four moves further (several states at once)."""
        for pick in picks:
            for action in self.moves(job_id, pick):
                self.act(job_id, action, self.providers[provider], bps)

    def moves(self, job_id: int, pick: int) -> tuple[str, ...]:
        fitting = MOVES.get(self.model.jobs[job_id].state)
        if fitting is None or pick >= PROBE_FROM:
            return (ACTIONS[pick % len(ACTIONS)],)
        return fitting[pick % len(fitting)]

    def act(self, job_id: int, action: str, provider, bps: int) -> None:
        job = self.model.jobs[job_id]
        if action == "wait":
            set_next_timestamp(max(job.deadline, chain.blocks.head.timestamp) + 1)
            chain.mine()
            return
        before = job.state
        now = chain.blocks.head.timestamp + 1
        if action == "last call":
            action, now = "claim", max(now, job.claim_deadline)
        actor, args, legal = self.plan(job, job_id, action, provider, bps, now)
        REACHED[f"{action} {'allowed' if legal else 'refused'} in {before.name}"] += 1
        receipt = self.attempt(legal, actor, *args, at=now)
        if receipt is None:
            return
        self.apply(job, action, actor, bps, now)
        self.record(receipt, job_id)
        REACHED[job.state.name] += 1
        REACHED[f"{before.name} -{action}-> {job.state.name}"] += 1

    def plan(self, job: ModelJob, job_id: int, action: str, provider, bps: int, now: int):
        """Who calls ``action``, with which arguments, and whether the contract must accept it."""
        requester = self.hostile if job.requester == self.hostile.address else self.requester
        claimer = next((p for p in self.providers if p.address == job.claimer), provider)
        before_deadline = now <= job.deadline
        state = job.state
        if action == "claim":
            free = self.model.stakes[provider.address] - self.model.locked[provider.address]
            legal = (
                not self.model.paused
                and state is S.OPEN
                and job.designated in (None, provider.address)
                and before_deadline
                and free >= job.collateral
            )
            return provider, ("claim", job_id), legal
        if action == "submit":
            return (
                claimer,
                ("submit_result", job_id, digest("result")),
                (state is S.CLAIMED and before_deadline),
            )
        if action == "abandon":
            return claimer, ("abandon", job_id), state is S.CLAIMED and before_deadline
        if action == "accept":
            return requester, ("accept", job_id), state is S.SUBMITTED
        if action == "finalize":
            return self.stranger, ("finalize", job_id), state is S.SUBMITTED and not before_deadline
        if action == "dispute":
            return requester, ("dispute", job_id), state is S.SUBMITTED and before_deadline
        if action == "resolve":
            return self.arbiter, ("resolve", job_id, bps), state is S.DISPUTED and before_deadline
        if action == "close_dispute":
            return (
                self.stranger,
                ("close_dispute", job_id),
                (state is S.DISPUTED and not before_deadline),
            )
        if action == "cancel":
            return requester, ("cancel", job_id), state is S.OPEN
        if action == "reclaim":
            return (
                self.stranger,
                ("reclaim", job_id),
                (state in (S.OPEN, S.CLAIMED) and not before_deadline),
            )
        raise AssertionError(f"unknown action {action}")

    def apply(self, job: ModelJob, action: str, actor, bps: int, now: int) -> None:
        """The model's version of a successful ``action``."""
        model = self.model
        if action == "claim":
            job.state, job.claimer, job.deadline = S.CLAIMED, actor.address, now + job.work_timeout
            model.locked[actor.address] += job.collateral
        elif action == "submit":
            job.state, job.deadline = S.SUBMITTED, now + job.review_window
        elif action == "dispute":
            job.state, job.deadline = S.DISPUTED, now + ARBITER_WINDOW
        elif action == "abandon":
            slash = job.collateral * job.slash_bps // MAX_BPS
            self.release(job, credit=0, slash=slash)
            if now <= job.claim_deadline:
                job.state, job.claimer, job.deadline = S.OPEN, None, job.claim_deadline
                self.pay_requester(job, slash)
            else:
                job.state = S.EXPIRED
                self.pay_requester(job, slash + job.price)
        elif action in ("accept", "finalize"):
            fee = job.price * job.fee_bps // MAX_BPS
            self.release(job, credit=job.price - fee, slash=0)
            model.credits[self.owner.address] += fee
            job.state = S.ACCEPTED
        elif action in ("resolve", "close_dispute"):
            bps = bps if action == "resolve" else 5_000
            gross = job.price * bps // MAX_BPS
            fee = gross * job.fee_bps // MAX_BPS
            slash = job.collateral if action == "resolve" and bps == 0 else 0
            self.release(job, credit=gross - fee, slash=slash)
            model.credits[self.owner.address] += fee
            self.pay_requester(job, job.price - gross + slash)
            job.state = S.RESOLVED
        elif action == "cancel":
            self.pay_requester(job, job.price)
            job.state = S.CANCELED
        elif action == "reclaim":
            slash = 0
            if job.state is S.CLAIMED:
                slash = job.collateral
                self.release(job, credit=0, slash=slash)
            self.pay_requester(job, job.price + slash)
            job.state = S.EXPIRED

    def release(self, job: ModelJob, credit: int, slash: int) -> None:
        """The claimer's collateral released, its payout added and slash taken; a stake over
        the limit stops there and the excess becomes the claimer's credit."""
        assert job.claimer is not None
        self.model.locked[job.claimer] -= job.collateral
        stake = self.model.stakes[job.claimer] + credit - slash
        if stake > MAX_STAKE:
            self.model.credits[job.claimer] += stake - MAX_STAKE
            stake = MAX_STAKE
            REACHED[OVER_STAKE_LIMIT] += 1
        self.model.stakes[job.claimer] = stake

    def fill_stake(self, account, headroom: int) -> None:
        """Deposit real ether until ``account``'s stake is ``headroom`` below the limit."""
        amount = MAX_STAKE - headroom - self.model.stakes[account.address]
        if self.token is None:
            chain.provider.set_balance(account.address, account.balance + amount)
        self.deposit(account, amount)
        self.model.stakes[account.address] += amount

    @rule(
        fee=st.sampled_from([0, 100, 1_000]),
        collateral=st.sampled_from([0, 1_000, 5_000]),
        slash=st.sampled_from([0, 2_000, 10_000]),
    )
    def owner_sets_params(self, fee, collateral, slash):
        next_timestamp()
        self.market.set_params(fee, collateral, slash, sender=self.owner)
        self.model.params = (fee, collateral, slash)

    @rule(
        job_id=jobs,
        picks=st.lists(st.integers(0, 99), min_size=1, max_size=3),
        provider=st.sampled_from([0, 1]),
    )
    def paused_interlude(self, job_id, picks, provider):
        """While paused nothing new starts (posts and claims revert) but every exit works."""
        next_timestamp()
        self.market.pause(sender=self.owner)
        self.model.paused = True
        self.post_job("requester", 10**7, None, 3_600)
        for pick in picks:
            for action in self.moves(job_id, pick):
                self.act(job_id, action, self.providers[provider], 10_000)
        next_timestamp()
        self.market.unpause(sender=self.owner)
        self.model.paused = False

    @rule(
        move=st.sampled_from(
            [
                "owner withdraws",
                "hostile withdraws",
                "requester withdraws",
                "provider 0 withdraws",
                "provider 1 withdraws",
                "hostile accepts payments",
                "hostile refuses payments",
            ]
        )
    )
    def credits_move(self, move):
        if move.endswith("payments"):
            self.configure_hostile(refuse=move.startswith("hostile refuses"))
            return
        words = move.split()
        actor = self.providers[int(words[1])] if words[0] == "provider" else getattr(self, words[0])
        credit = self.model.credits[actor.address]
        refuses = actor is self.hostile and self.model.hostile_refuses
        if self.attempt(credit > 0 and not refuses, actor, "withdraw") is not None:
            self.model.credits[actor.address] = 0
            if words[0] == "provider":
                REACHED["provider withdraws its credit"] += 1

    @rule(
        provider=st.sampled_from([0, 1]),
        move=st.sampled_from(["withdraw all", "withdraw half", "deposit"]),
    )
    def stake_moves(self, provider, move):
        account = self.providers[provider]
        if move == "deposit":
            amount = 10**9 * self.price_unit
            fits = self.model.stakes[account.address] + amount <= MAX_STAKE
            if self.deposit(account, amount, legal=fits) is not None:
                self.model.stakes[account.address] += amount
            return
        free = self.model.stakes[account.address] - self.model.locked[account.address]
        amount = free if move == "withdraw all" else free // 2
        if self.attempt(amount > 0, account, "withdraw_stake", amount) is not None:
            self.model.stakes[account.address] -= amount

    @rule(price_gwei=st.sampled_from([10**4, 10**7]), provider=st.sampled_from([0, 1]))
    def fee_interlude(self, price_gwei, provider):
        """A token that starts taking a fee on transfer: posts and deposits are refused (the
        market checks what it received), and everything works again once the fee is gone.
        (Amounts of at least 10,000 units, so that the 1 % fee is not rounded to zero.)"""
        if not self.fee_token:
            return
        next_timestamp()
        self.token.set_fee_bps(100, sender=self.stranger)
        now = next_timestamp()
        args = (digest("fee"), ZERO_ADDRESS, now + 3_600, 600, 300, price_gwei * self.price_unit)
        self.attempt(False, self.requester, "post_job_token", *args, at=now)
        self.deposit(self.providers[provider], 10**4 * self.price_unit, legal=False)
        next_timestamp()
        self.token.set_fee_bps(0, sender=self.stranger)
        REACHED["fee-on-transfer refused"] += 1

    # ------------------------------------------------------------ invariants

    @invariant()
    def solvent(self):
        stakes = {p.address: self.market.provider_info(p.address) for p in self.providers}
        credits = {a.address: self.market.credits(a.address) for a in self.accounts}
        for address, info in stakes.items():
            assert info.stake == self.model.stakes[address], "stake differs from the model"
            assert info.locked == self.model.locked[address], "locked differs from the model"
            assert 0 <= info.locked <= info.stake, "locked collateral exceeds the stake"
        for address, amount in credits.items():
            assert amount == self.model.credits[address], "credit differs from the model"
        expected = (
            self.model.escrow()
            + sum(info.stake for info in stakes.values())
            + sum(credits.values())
        )
        assert self.balance() == expected, "balance != escrow + stakes + credits"

    @invariant()
    def settled_at_most_once_and_states_agree(self):
        for job_id in self.touched:
            job = self.model.jobs[job_id]
            assert job.settlements == (1 if job.state.is_terminal else 0), job_id
            assert JobState(self.market.get_job(job_id).state) is job.state, job_id
        self.touched.clear()


@pytest.mark.parametrize("kind", ["eth", *TOKEN_KINDS])
def test_random_action_sequences_keep_the_market_solvent(
    kind,
    market,
    token_markets,
    accounts,
    owner,
    arbiter,
    requester,
    stranger,
    provider,
    provider2,
    hostile_factory,
    record_property,
):
    MarketMachine.owner = owner
    MarketMachine.arbiter = arbiter
    MarketMachine.requester = requester
    MarketMachine.stranger = stranger
    MarketMachine.providers = (provider, provider2)
    profile = PROFILE
    if kind == "eth":
        MarketMachine.market = market
        MarketMachine.hostile = hostile_factory(balance=100 * 10**18)
    else:
        tm = token_markets[kind]
        MarketMachine.market, MarketMachine.token = tm.market, tm.token
        MarketMachine.price_unit = tm.market.price_unit()
        MarketMachine.fee_token = kind == "fee"
        # The refusing requester of a token market: an account the token can blacklist.
        MarketMachine.hostile = accounts[6]
        tm.fund(accounts[6], 10**30)
        profile = "ci-token" if PROFILE == "ci" else PROFILE
    REACHED.clear()

    run_state_machine_as_test(MarketMachine, settings=settings.get_profile(profile))

    print(f"\nstates and transitions reached ({kind} market, {profile} profile):")
    for name, count in sorted(REACHED.items()):
        print(f"  {count:5d}  {name}")
    record_property("reached", dict(REACHED))
    wanted = TRANSITIONS | {s.name for s in JobState if s is not S.NONEXISTENT} | {OVER_STAKE_LIMIT}
    if kind == "fee":
        wanted.add("fee-on-transfer refused")
    missing = wanted - set(REACHED)
    assert not missing, f"the run never reached {sorted(missing)}"


@pytest.fixture(autouse=True)
def _state_machine_isolation():
    """The machine's class attributes point at this test's chain objects only while it runs."""
    yield
    for name in ("market", "owner", "arbiter", "requester", "stranger", "hostile", "token"):
        setattr(MarketMachine, name, None)
    MarketMachine.providers = ()
    MarketMachine.price_unit = 10**9
    MarketMachine.fee_token = False
