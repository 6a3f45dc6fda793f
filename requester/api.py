"""The requester's Python API: post jobs, follow them, fetch verified results, settle them.

    from requester import Requester

    with Requester.connect(account="TEST::0") as me:          # --rpc-url, $JOBMARKET_RPC_URL …
        job = me.post(image="alpine:3.20", command="sh -c 'wc -l /in/data.csv > /out/n'",
                      inputs=["data.csv"], price="0.01 ether", claim_within="10m")
        job.wait(on_step=lambda step, status: print(step.summary))
        manifest = job.results("result/")                     # every file verified
        job.accept()

A :class:`Requester` binds a market (web3, through :class:`MarketClient`), a signer (an
eth_account key or, in ape scripts, an ape account) and a content store. It never imports
ape. Every transaction is checked before it is signed; every failure a user can fix is a
:class:`~jobmarket.errors.UserError` with one line of advice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from jobmarket.chain.client import MarketClient
from jobmarket.chain.rpc import default_poll_interval, is_local_chain, with_retries
from jobmarket.chain.states import JobState
from jobmarket.content.peers import connect_configured_peers
from jobmarket.content.store import ContentStore, open_store
from jobmarket.errors import IntegrityError, InvalidInput, UserError
from jobmarket.spec.job import JobSpec
from requester.clock import chain_now
from requester.errors import ActionNotAllowed
from requester.estimate import CostEstimate, estimate_costs, require_post_after_approvals
from requester.history import AccountFeed, JobStep, scan
from requester.inputs import (
    NamedCid,
    NamedPath,
    parse_input_cid,
    parse_input_path,
    parse_job_id,
)
from requester.job import Job
from requester.outcomes import Outcomes
from requester.posting import JobTerms, spec_from_parts, with_inputs
from requester.providers import ProviderListing, find_provider, list_providers
from requester.remote import with_remote_inputs
from requester.signer import KeySigner, NamedAccountSigner, Signer, usable_permit
from requester.status import JobSummary
from requester.transactions import TxRecord, send, shortfall, token_shortfall

ACCOUNT_ENV = "JOBMARKET_ACCOUNT"
DEFAULT_LOCAL_ACCOUNT = "TEST::0"

AccountLike = str | Signer | LocalAccount


def resolve_signer(account: AccountLike | None, chain_id: int) -> Signer:
    """A signer from a name (``TEST::N``, an ape alias), a key or a signer.

    Without one: ``$JOBMARKET_ACCOUNT``, else test account 0 on a local chain only.
    """
    if account is None:
        account = os.environ.get(ACCOUNT_ENV) or None
    if account is None:
        if not is_local_chain(chain_id):
            raise UserError(
                f"no account given for chain {chain_id}",
                f"pass --account ALIAS (an ape account) or set {ACCOUNT_ENV}",
            )
        account = DEFAULT_LOCAL_ACCOUNT
    if isinstance(account, str):
        return NamedAccountSigner(account, chain_id)
    if isinstance(account, LocalAccount):
        return KeySigner(account)
    if isinstance(account, Signer):
        return account
    raise TypeError(f"cannot sign with {type(account).__name__}")


class Requester:
    """One account's view of, and hand on, the market."""

    def __init__(
        self,
        client: MarketClient,
        signer: Signer | None = None,
        store: ContentStore | None = None,
        *,
        account: AccountLike | None = None,
    ) -> None:
        self.client = client
        self._signer = signer
        self._account = account
        self._store = store
        self._owns_store = store is None
        #: Called with (function, tx hash) just before each transaction is sent (the CLI
        #: prints it, so a lost answer never leaves the user without the hash).
        self.on_transaction: Callable[[str, str], None] | None = None

    @classmethod
    def connect(
        cls,
        rpc_url: str | None = None,
        account: AccountLike | None = None,
        *,
        store: ContentStore | None = None,
        market: str | None = None,
    ) -> Requester:
        """Connect to the market recorded for the chain at ``rpc_url`` (see ``rpc.connect``),
        or to the one at address ``market`` on it.

        The account is resolved when first needed, so reading needs no passphrase.
        """
        return cls(MarketClient.connect(rpc_url, market), store=store, account=account)

    # -- plumbing ------------------------------------------------------------------------------

    @cached_property
    def poll_interval(self) -> float:
        """Seconds between two looks at the chain while following jobs (by chain kind)."""
        return default_poll_interval(self.client.chain_id)

    @cached_property
    def outcomes(self) -> Outcomes:
        """Verified result manifests and job names, cached (see requester.outcomes)."""
        return Outcomes(self.client, self._store_or_none())

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = resolve_signer(self._account, self.client.chain_id)
        return self._signer

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def address_or_none(self) -> str | None:
        """The account's address, or None when no account is configured (reads still work)."""
        try:
            return self.address
        except UserError:
            return None

    @property
    def store(self) -> ContentStore:
        """The content store (opened on first use: embedded, or Kubo when IPFS_API is set)."""
        if self._store is None:
            self._store = open_store()
            connect_configured_peers(self._store)  # JOBMARKET_IPFS_PEERS, before any read
        return self._store

    def close(self) -> None:
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Requester:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def now(self) -> int:
        """The chain's time: the clock every deadline is measured by (see requester.clock)."""
        return chain_now(self.client.w3)[1]

    def collateral_bps(self) -> int:
        _, _, collateral_bps, _ = self.client.contract.functions.params().call()
        return int(collateral_bps)

    # -- jobs ------------------------------------------------------------------------------------

    def job(self, job_id: int | str) -> Job:
        """A handle on an existing job (NotFound for an id never posted)."""
        number = parse_job_id(job_id)
        with_retries(lambda: self.client.job(number), f"reading job {number}")
        return Job(self, number)

    def prepare_spec(
        self,
        spec: JobSpec | str | Path | dict[str, Any] | None = None,
        *,
        image: str | None = None,
        command: str | Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        timeout: str | int | None = None,
        cpu: float | None = None,
        memory_mb: int | None = None,
        outputs: Sequence[str] = (),
        name: str | None = None,
        gpu: int | None = None,
        gpu_memory: str | int | None = None,
        gpu_models: Sequence[str] = (),
    ) -> JobSpec | dict[str, Any]:
        """The spec a post starts from: a spec (file, document or model) or image + command."""
        parts_given = image is not None or command is not None
        if spec is not None and parts_given:
            raise InvalidInput(
                "give either a spec file or an image and command, not both",
                "drop --spec, or drop --image/--cmd",
            )
        if spec is None:
            if image is None or command is None:
                raise InvalidInput(
                    "nothing to run", "give --image and --cmd, or --spec FILE (a job spec)"
                )
            return spec_from_parts(
                image=image,
                command=command,
                env=env,
                timeout=timeout,
                cpu=cpu,
                memory_mb=memory_mb,
                outputs=outputs,
                name=name,
                gpu=gpu,
                gpu_memory=gpu_memory,
                gpu_models=gpu_models,
            )
        if isinstance(spec, str | Path):
            return JobSpec.from_file(spec)
        if isinstance(spec, dict):
            return JobSpec.parse(spec)
        return spec

    def post(
        self,
        spec: JobSpec | str | Path | dict[str, Any] | None = None,
        *,
        price: str | int,
        image: str | None = None,
        command: str | Sequence[str] | None = None,
        inputs: Sequence[str | NamedPath] = (),
        input_cids: Sequence[str | NamedCid] = (),
        input_urls: Sequence[str] = (),
        env: dict[str, str] | None = None,
        timeout: str | int | None = None,
        cpu: float | None = None,
        memory_mb: int | None = None,
        gpu: int | None = None,
        gpu_memory: str | int | None = None,
        gpu_models: Sequence[str] = (),
        outputs: Sequence[str] = (),
        name: str | None = None,
        claim_within: str | int | None = None,
        work_timeout: str | int | None = None,
        review_window: str | int | None = None,
        provider: str | None = None,
        anyway: bool = False,
    ) -> Job:
        """Post a job and escrow its price; returns the job once the post is mined.

        ``inputs`` are local files or folders (``PATH`` or ``NAME=PATH``) added to the store and
        mounted at ``/in/NAME``; ``input_cids`` (``NAME=CID``) must already be in the store;
        ``input_urls`` (``NAME=URL#sha256=HEX``) are downloaded by the provider.
        Durations are human (``10m``); the price is in the market's currency: ``0.01``
        (ether) or ``"250000 gwei"`` on an ETH market, ``12.5`` (tokens) on a token market.
        Everything is checked before anything is sent: spec, terms, inputs, provider, funds,
        and that at least one registered provider would take the job (``anyway`` skips that).
        """
        base = self.prepare_spec(
            spec,
            image=image,
            command=command,
            env=env,
            timeout=timeout,
            cpu=cpu,
            memory_mb=memory_mb,
            outputs=outputs,
            name=name,
            gpu=gpu,
            gpu_memory=gpu_memory,
            gpu_models=gpu_models,
        )
        paths = [i if isinstance(i, NamedPath) else parse_input_path(i) for i in inputs]
        cids = [i if isinstance(i, NamedCid) else parse_input_cid(i) for i in input_cids]
        checked = base if isinstance(base, JobSpec) else JobSpec.parse(base, "job spec")
        terms = JobTerms.parse(
            price=price,
            spec=checked,
            claim_within=claim_within,
            work_timeout=work_timeout,
            review_window=review_window,
            designated=provider,
            currency=self.client.currency,
        )
        me = self.address
        self._check_designated(terms, checked, me)
        # Checked again with the gas by transactions.prepare; here to fail before uploading.
        self._check_price_covered(terms, me)
        full = with_inputs(base, self.store, paths, cids)
        full = with_remote_inputs(full, self.store, input_urls)  # URL inputs, our peers as hints
        if terms.designated is None and not anyway:  # after the input checks (bad input: 2)
            self._check_some_provider_takes(terms, checked)
        full.publish(self.store)
        approvals, receipt, record = self._send_post(full.digest, terms)
        job_id = self._posted_id(receipt)
        job = Job(self, job_id)
        job.transactions.extend(approvals)
        job.transactions.append(replace(record, job_id=job_id))  # the id is known only now
        return job

    def _check_price_covered(self, terms: JobTerms, me: str) -> None:
        """The account holds the price in the market's currency (ETH, or the market's token)."""
        if terms.currency.is_eth:
            balance = self.client.balance(me)
            if balance < terms.price:
                raise shortfall("post_job", me, balance, terms.price, 0)
            return
        held = self.client.currency_balance(me)
        if held < terms.price or not self.client.token_moves(me, terms.price):
            raise token_shortfall(terms.currency, held, terms.price)

    def _send_post(self, digest: bytes, terms: JobTerms) -> tuple[list[TxRecord], dict, TxRecord]:
        """Post in the market's currency: ``post_job`` with the price as value (ETH); on a
        token market ``post_job_permit`` when the token has EIP-2612 and the signer signs
        typed data (one signature, one transaction), else an ``approve`` (only when the
        allowance is short of the price) and ``post_job_token``."""
        client = self.client
        me = self.address
        claim_deadline = terms.claim_deadline(self.now())
        permit = None
        approvals: list[TxRecord] = []
        if not terms.currency.is_eth:
            # The permit lives as long as the job can be claimed; the post uses it at once.
            permit = usable_permit(client, self.signer, me, terms.price, claim_deadline)
            needed = [] if permit is not None else client.approvals_needed(me, terms.price)
            if needed:
                require_post_after_approvals(client, me, terms, digest, claim_deadline, needed)
            for amount in needed:
                _, approved = send(
                    client,
                    self.signer,
                    "approve",
                    build=lambda amount=amount: client.build_approve(me, amount),
                    announce=self.on_transaction,
                )
                approvals.append(approved)
        function, args, value = terms.post_call(client, digest, claim_deadline, permit)
        receipt, record = send(
            client,
            self.signer,
            function,
            *args,
            value=value,
            announce=self.on_transaction,
            escrowed=terms.price,
        )
        return approvals, receipt, record

    def _posted_id(self, receipt: dict) -> int:
        for log in receipt["logs"]:
            event = self.client.decode(log)
            if event is not None and event.name == "JobPosted":
                return int(event.args["job_id"])
        raise IntegrityError(  # pragma: no cover - post_job always emits JobPosted
            f"post transaction {receipt['transactionHash']} emitted no JobPosted event",
            "check the market address in the deployments file",
        )

    def _check_designated(self, terms: JobTerms, spec: JobSpec, me: str) -> None:
        """A designated provider must exist and be able to take the job, or it never runs."""
        if terms.designated is None:
            return
        if terms.designated == me:
            raise InvalidInput(
                "you cannot designate yourself as the provider", "give another provider address"
            )
        listing = find_provider(self.client, self._store_or_none(), terms.designated)
        if listing is None or not listing.registered:
            raise ActionNotAllowed(
                f"{terms.designated} is not a registered provider",
                "pick one from `requester providers`",
            )
        collateral = terms.price * self.collateral_bps() // 10_000
        # An unreadable capability document is no reason to refuse: the provider was chosen.
        refusals = listing.refusals(spec, terms.price, collateral, unknown_ok=True)
        if refusals:
            raise ActionNotAllowed(
                f"provider {terms.designated} would not take this job: " + "; ".join(refusals),
                "change the job or pick another provider (`requester providers`)",
            )

    def _check_some_provider_takes(self, terms: JobTerms, spec: JobSpec) -> None:
        """Refuse to escrow a job no registered provider would claim: it could only expire.

        Judged by each provider's own rule (``ProviderCapabilities.accepts``, the function its
        node declines with); a provider whose document cannot be read is given the benefit.
        """
        collateral = terms.price * self.collateral_bps() // 10_000
        listings = [p for p in self.providers() if p.registered]
        verdicts = [
            (p, p.refusals(spec, terms.price, collateral, unknown_ok=True)) for p in listings
        ]
        if any(not refusals for _, refusals in verdicts):
            return
        if not verdicts:
            raise ActionNotAllowed(
                "no provider is registered on this market, so nobody would run this job",
                "wait for a provider (`requester providers`), or pass --anyway to post it "
                "regardless; nothing was sent",
            )
        why = "; ".join(f"{p.address} would decline: {', '.join(r)}" for p, r in verdicts)
        raise ActionNotAllowed(
            f"none of the {len(verdicts)} registered provider(s) would take this job ({why})",
            "change the job to fit one of them (`requester estimate` shows each verdict), or "
            "pass --anyway to post it regardless; nothing was sent",
        )

    def jobs(self, *, active_only: bool = False, block: int | None = None) -> list[JobSummary]:
        """This account's jobs (from its JobPosted events) as of ``block``, oldest first."""
        client = self.client
        number, now = chain_now(client.w3)
        number = number if block is None else block
        summaries = []
        for event in scan(
            client, client.start_block, number, names=["JobPosted"], account=self.address
        ):
            view = client.job(int(event.args["job_id"]), block=number)
            if active_only and view.state.is_terminal:
                continue
            digest = bytes(event.args["spec_digest"])
            summaries.append(
                JobSummary(
                    view=view,
                    posted_block=event.block_number,
                    spec_digest=digest,
                    now=now,
                    name=self.outcomes.name(digest),
                    outcome=self.outcomes.outcome(view.job_id, digest),
                    currency=client.currency,
                )
            )
        return summaries

    def watch(
        self,
        *,
        on_step: Callable[[JobStep], None],
        on_tick: Callable[[dict[int, JobState]], None] | None = None,
        on_start: Callable[[dict[int, JobState]], None] | None = None,
        until_settled: bool = False,
        timeout: float | None = None,
        poll_interval: float | None = None,
    ) -> dict[int, JobState]:
        """Follow every job of this account (new posts too) as its events happen.

        Starts from the jobs that are not settled yet (``on_start`` sees their states then);
        ``on_step`` sees each new step and ``on_tick`` the state of every followed job after
        each poll. Returns the states when all followed jobs are settled (``until_settled``)
        or after ``timeout`` seconds.
        """
        number, _ = with_retries(lambda: chain_now(self.client.w3), "reading the chain head")
        active = with_retries(
            lambda: self.jobs(active_only=True, block=number), "listing your active jobs"
        )
        states = {summary.view.job_id: summary.view.state for summary in active}
        if on_start is not None:
            on_start(dict(states))
        feed = AccountFeed(self.client, self.address, number + 1, set(states))
        started = time.monotonic()
        while True:
            for step in with_retries(feed.poll, "following your jobs"):
                states[step.job_id] = step.state
                on_step(step)
            if on_tick is not None:
                on_tick(dict(states))
            if until_settled and all(state.is_terminal for state in states.values()):
                return states
            if timeout is not None and time.monotonic() - started >= timeout:
                return states
            time.sleep(poll_interval or self.poll_interval)

    def providers(self) -> list[ProviderListing]:
        """Registered providers with stake, track record and verified capability documents."""
        return list_providers(self.client, self._store_or_none())

    def _store_or_none(self) -> ContentStore | None:
        try:
            return self.store
        except UserError:
            return None

    def estimate(
        self,
        spec: JobSpec | str | Path | dict[str, Any] | None = None,
        *,
        price: str | int,
        image: str | None = None,
        command: str | Sequence[str] | None = None,
        timeout: str | int | None = None,
        cpu: float | None = None,
        memory_mb: int | None = None,
        gpu: int | None = None,
        gpu_memory: str | int | None = None,
        gpu_models: Sequence[str] = (),
        claim_within: str | int | None = None,
        work_timeout: str | int | None = None,
        review_window: str | int | None = None,
        provider: str | None = None,
    ) -> CostEstimate:
        """Price plus gas of each way the job can go, and which providers would take it."""
        checked: JobSpec | None = None
        if spec is not None or image is not None or command is not None:
            base = self.prepare_spec(
                spec,
                image=image,
                command=command,
                timeout=timeout,
                cpu=cpu,
                memory_mb=memory_mb,
                gpu=gpu,
                gpu_memory=gpu_memory,
                gpu_models=gpu_models,
            )
            checked = base if isinstance(base, JobSpec) else JobSpec.parse(base, "job spec")
        terms = JobTerms.parse(
            price=price,
            spec=checked or JobSpec(image="estimate", command=["true"]),
            claim_within=claim_within,
            work_timeout=work_timeout,
            review_window=review_window,
            designated=provider,
            currency=self.client.currency,
        )
        if terms.designated is None:
            candidates = self.providers()
        else:
            designated = find_provider(self.client, self._store_or_none(), terms.designated)
            candidates = [designated] if designated is not None else []
        return estimate_costs(
            self.client,
            self.address,
            terms,
            checked,
            candidates,
            self.now(),
            self.collateral_bps(),
            self.signer,
        )
