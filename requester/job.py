"""One posted job, seen from its requester: status, waiting, results, and the requester's moves.

A :class:`Job` is a handle (market, signer, store and a job id); every call reads the chain
afresh, so handles are cheap and never stale. Actions are checked against the job's state and
deadlines before anything is signed (:mod:`requester.moves`); the contract's revert is only
the backstop for a chain that moved in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from jobmarket.chain.client import JobView
from jobmarket.chain.rpc import with_retries
from jobmarket.chain.states import JobState
from jobmarket.errors import IntegrityError, UserError
from jobmarket.sizes import parse_size
from jobmarket.spec.result import ResultManifest
from jobmarket.spec.result_dir import DEFAULT_MAX_RESULT_BYTES, fetch_result, read_log
from requester.clock import chain_now
from requester.disputes import parse_share, publish_dispute_reason, read_dispute_reason
from requester.durations import format_duration, format_relative
from requester.errors import ActionNotAllowed
from requester.history import JobFeed, JobStep, result_cid
from requester.moves import Action, check_action
from requester.remote import results_store
from requester.status import JobStatus
from requester.transactions import TxRecord, send

if TYPE_CHECKING:
    from requester.api import Requester

#: ``wait()`` by default returns when the requester has to decide, or nothing can change.
REQUESTER_TURN = frozenset({JobState.SUBMITTED}) | frozenset(s for s in JobState if s.is_terminal)

StepCallback = Callable[[JobStep, JobStatus], None]
TickCallback = Callable[[JobStatus], None]
Until = JobState | Collection[JobState] | Callable[[JobStatus], bool]


class WaitTimedOut(UserError):
    """The job did not reach the awaited state in time (the job itself is unaffected)."""


class JobStalled(UserError):
    """The job missed a deadline nobody else will act on: only a reclaim moves it on."""


def _raise_if_stalled(status: JobStatus) -> None:
    """Stop waiting for a provider that can no longer act; say how to get the money back."""
    view = status.view
    if status.now <= view.deadline or view.state not in (JobState.OPEN, JobState.CLAIMED):
        return
    missed = (
        "nobody claimed it before its claim deadline"
        if view.state is JobState.OPEN
        else f"the provider {view.provider} missed its work deadline"
    )
    refund = "the price" if view.state is JobState.OPEN else "the price and its collateral"
    raise JobStalled(
        f"job {view.job_id} is stuck {view.state.name}: {missed} "
        f"({format_relative(view.deadline, status.now)})",
        f"`requester reclaim {view.job_id}` returns {refund} to you",
    )


def _until_predicate(until: Until | None) -> Callable[[JobStatus], bool]:
    if until is None:
        return lambda status: status.state in REQUESTER_TURN
    if isinstance(until, JobState):
        return lambda status: status.state is until or status.is_terminal
    if callable(until):
        return until
    states = frozenset(until)
    return lambda status: status.state in states or status.is_terminal


class Job:
    """A posted job, driven by the account of the :class:`~requester.api.Requester` it came from."""

    def __init__(self, requester: Requester, job_id: int) -> None:
        self.requester = requester
        self.id = job_id
        #: Transactions sent through this handle (post included), with their gas and cost.
        self.transactions: list[TxRecord] = []
        self._feed: JobFeed | None = None

    def __repr__(self) -> str:
        return f"Job({self.id})"

    # -- reading -----------------------------------------------------------------------------

    @property
    def feed(self) -> JobFeed:
        if self._feed is None:
            self._feed = JobFeed.from_post(self.requester.client, self.id)
        return self._feed

    def view(self) -> JobView:
        """The contract's record of the job (``get_job``)."""
        return self.requester.client.job(self.id)

    def status(self, *, outcome: bool = False) -> JobStatus:
        """State, deadlines, who acts next, the steps so far and what they cost, at one block.

        ``outcome`` adds the job's name and how its run ended (the verified result manifest).
        """
        client = self.requester.client
        number, now = chain_now(client.w3)
        view = client.job(self.id, block=number)
        self.feed.poll(number)
        me = self.requester.address_or_none
        name = result = None
        if outcome:
            digest = self.spec_digest()
            name = self.requester.outcomes.name(digest)
            result = self.requester.outcomes.outcome(self.id, digest)
        return JobStatus(
            view=view,
            now=now,
            block_number=number,
            steps=tuple(self.feed.steps),
            costs=self.feed.costs(me or view.requester),
            me=me,
            name=name,
            outcome=result,
            currency=client.currency,
        )

    def spec_digest(self) -> bytes:
        posted = next(s for s in self.feed.steps if s.event == "JobPosted")
        return bytes(posted.args["spec_digest"])

    def logs(self, stream: str = "stdout") -> bytes:
        """The job's ``stdout`` or ``stderr`` from its submitted result, verified against the
        manifest and the on-chain digest, without downloading the outputs."""
        status = self.status()
        submitted = self.feed.last_result()
        if submitted is None:
            raise ActionNotAllowed(
                f"job {self.id} has no result yet, so no logs: it is {status.state.name}",
                f"wait for the provider (`requester wait {self.id}`)",
            )
        digest = bytes(submitted.args["result_digest"])
        try:
            return read_log(
                self.requester.store,
                result_cid(digest),
                digest,
                stream,
                job_id=self.id,
                spec_cid=status.spec_cid,
            )
        except IntegrityError as err:
            raise IntegrityError(
                err.problem, f"dispute it (`requester dispute {self.id}`)"
            ) from None

    def wait(
        self,
        *,
        until: Until | None = None,
        on_step: StepCallback | None = None,
        on_tick: TickCallback | None = None,
        timeout: float | None = None,
        poll_interval: float | None = None,
    ) -> JobStatus:
        """Follow the job's events until ``until`` holds (default: your turn, or settled).

        ``on_step`` sees every step once, in chain order, earlier steps first; ``on_tick`` is
        called after every poll (for progress displays). Raises WaitTimedOut after ``timeout``
        seconds; the job itself is not affected.
        """
        done = _until_predicate(until)
        started = time.monotonic()
        reported = 0
        while True:
            # A dropped connection is retried with growing pauses; a long outage is one line.
            status = with_retries(self.status, f"following job {self.id}")
            for step in status.steps[reported:]:
                if on_step is not None:
                    on_step(step, status)
            reported = len(status.steps)
            if on_tick is not None:
                on_tick(status)
            if done(status):
                return status
            if status.is_terminal:
                raise ActionNotAllowed(
                    f"job {self.id} ended {status.state.name} before reaching what was awaited",
                    "see `requester status` for its history",
                )
            _raise_if_stalled(status)
            if timeout is not None and time.monotonic() - started >= timeout:
                raise WaitTimedOut(
                    f"job {self.id} is still {status.state.name} after "
                    f"{format_duration(timeout)}; waiting on {status.waiting_on}",
                    f"run `requester wait {self.id}` to keep following it",
                )
            time.sleep(poll_interval or self.requester.poll_interval)

    def results(
        self,
        destination: str | Path,
        *,
        max_size: int | str = DEFAULT_MAX_RESULT_BYTES,
        gateway: str | None = None,
    ) -> ResultManifest:
        """Download the submitted result to ``destination`` and verify all of it.

        The manifest (the directory root) is checked against the digest the provider
        submitted on chain and must name this job and its spec; the sizes it declares must fit
        ``max_size`` (bytes, or text such as ``"2GiB"``; default 1 GiB) and the free space
        of the target's filesystem. Every file is written with a cap of its declared size and
        checked against the manifest before the folder is renamed to ``destination``: on
        any refusal ``destination`` is not created. ``gateway`` reads it through an IPFS
        trustless gateway instead of the store (every block checked the same way).
        """
        limit = parse_size(max_size, what="maximum result size")
        status = self.status()
        submitted = self.feed.last_result()
        if submitted is None:
            raise ActionNotAllowed(
                f"job {self.id} has no result: it is {status.state.name}",
                f"wait for the provider (`requester wait {self.id}`); "
                f"now waiting on {status.waiting_on}",
            )
        digest = bytes(submitted.args["result_digest"])
        store = results_store(self.requester, status.view.provider, gateway)
        try:
            return fetch_result(
                store,
                result_cid(digest),
                digest,
                Path(destination),
                job_id=self.id,
                spec_cid=status.spec_cid,
                max_bytes=limit,
            )
        except IntegrityError as err:
            raise IntegrityError(
                err.problem, f"dispute it (`requester dispute {self.id}`); nothing was written"
            ) from None
        finally:
            if store is not self.requester.store:
                store.close()

    # -- the requester's moves -----------------------------------------------------------------

    def _act(self, action: Action, *extra: object, calldata_suffix: bytes = b"") -> TxRecord:
        requester = self.requester
        client = requester.client
        number, now = chain_now(client.w3)
        view = client.job(self.id, block=number)
        arbiter = client.arbiter() if action is Action.RESOLVE else None
        check_action(action, view, requester.signer.address, now, arbiter=arbiter)
        _, record = send(
            client,
            requester.signer,
            str(action),
            self.id,
            *extra,
            job_id=self.id,
            announce=requester.on_transaction,
            calldata_suffix=calldata_suffix,
        )
        self.transactions.append(record)
        return record

    def accept(self) -> TxRecord:
        """Accept the submitted result: the provider is paid and its collateral released."""
        return self._act(Action.ACCEPT)

    def dispute(self, reason: str | None = None) -> TxRecord:
        """Reject the submitted result within the review window; the arbiter settles the job.

        ``reason`` is published to the content store as a dispute document; its digest rides
        in the transaction after the call's arguments (the contract ignores trailing bytes),
        so the arbiter finds it from the JobDisputed event's transaction.
        """
        suffix = b""
        if reason is not None:
            suffix = publish_dispute_reason(self.requester.store, self.id, reason)
        return self._act(Action.DISPUTE, calldata_suffix=suffix)

    def dispute_reason(self) -> str | None:
        """The reason given with this job's dispute, read back and verified; None if none."""
        event = self.requester.client.job_event(self.id, "JobDisputed")
        if event is None:
            return None
        tx = self.requester.client.w3.eth.get_transaction(event.tx_hash)
        return read_dispute_reason(self.requester.store, self.id, bytes(tx["input"]))

    def finalize(self) -> TxRecord:
        """Anyone, after the review window: pay the provider of an unreviewed result."""
        return self._act(Action.FINALIZE)

    def close_dispute(self) -> TxRecord:
        """Anyone, after the arbiter's deadline: settle a dispute 50/50, slashing nobody."""
        return self._act(Action.CLOSE_DISPUTE)

    def resolve(self, provider_share: str | int) -> TxRecord:
        """The arbiter, before its deadline: give the provider ``provider_share`` of the price
        (``100%``, ``70%``, ``0``, or basis points such as ``7000``), the rest to the requester."""
        return self._act(Action.RESOLVE, parse_share(provider_share))

    def cancel(self) -> TxRecord:
        """Withdraw a job nobody has claimed; the price is refunded."""
        return self._act(Action.CANCEL)

    def reclaim(self) -> TxRecord:
        """Expire a job past its claim or work deadline; the price (and any collateral) is paid
        back to the requester."""
        return self._act(Action.RECLAIM)
