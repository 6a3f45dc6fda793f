"""The node's Prometheus metrics: one registry, fed from the node's existing single points.

``provider-node run --metrics-listen HOST:PORT`` serves them at ``/metrics`` (with
``/healthz``, :mod:`provider_node.health`, on the same listener). Nothing here counts on its
own: the numbers come from the places that already are the one home of each fact —

* :func:`job_moved`: ``lifecycle.advance`` (the only writer of a job's step), after commit:
  claims won and lost, outcomes, post→claim and claim→submit times (chain time, from the
  deadlines the contract derived from its block timestamps), container run time;
* :func:`tx_mined`: ``chain.signer`` (the only signer), once per receipt: gas by function;
* :func:`chain_polled`: ``chain.follower``: the head and the event cursor;
* :func:`error_seen`: ``context.logs.emit_repeated`` (every retried or logged failure,
  repeats included) and the deciding step's store failures: errors by kind;
* at scrape time, from the journal and the chain: jobs by step, earnings credited and
  pending, stake free and locked, GPUs free.

Each :class:`NodeMetrics` has its own :class:`~prometheus_client.CollectorRegistry` (never the
global one), so nodes run in one process (tests) never share numbers. The node installs its
instance with :func:`install`; the hooks do nothing while none is installed, and a failing
hook is logged at debug level and never disturbs the step that called it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import docker.errors
import httpx
import requests.exceptions
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from web3.exceptions import Web3Exception

from jobmarket.errors import UserError
from provider_node.lifecycle.steps import Step

if TYPE_CHECKING:
    from provider_node.context.runtime import Runtime
    from provider_node.journal.store import JobRecord

log = logging.getLogger("provider_node")

PREFIX = "jobmarket_node_"
# Steps a job's journey ends at (until a reorg or a reopening brings it back).
OUTCOMES = (Step.SETTLED, Step.DECLINED, Step.LOST, Step.ABANDONED, Step.FAILED)
ERROR_KINDS = ("rpc", "docker", "ipfs", "other")

_WAIT_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)
_RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_WORK_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_BLOCK_TIMES_KEPT = 512


def head_lag(head: int, cursor: int, confirmations: int) -> int:
    """Blocks the node could have read and has not: the confirmed head minus the last block
    whose events are journaled (0 when up to date). The gauge and ``/healthz`` share it."""
    return max(0, head - confirmations - cursor)


def error_kind(err: BaseException) -> str:
    """``rpc``, ``docker``, ``ipfs`` or ``other``: which service a failure came from, read
    from the exception and the errors it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, docker.errors.DockerException):
            return "docker"
        if isinstance(current, requests.exceptions.RequestException):
            url = str(getattr(current.request, "url", "") or "")
            return "docker" if url.startswith(("http+docker:", "http+unix:")) else "rpc"
        if isinstance(current, httpx.HTTPError):
            return "ipfs"
        if isinstance(current, Web3Exception):
            return "rpc"
        if isinstance(current, UserError):
            text = current.problem
            for word, kind in (("Docker", "docker"), ("IPFS", "ipfs"), ("content store", "ipfs")):
                if word in text:
                    return kind
            if "RPC" in text:
                return "rpc"
        current = current.__cause__ or current.__context__
    return "other"


class NodeMetrics:
    """Every metric of one node, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.claims = Counter(
            PREFIX + "claims", "Claims this node raced for, by result.", ["result"], registry=r
        )
        self.outcomes = Counter(
            PREFIX + "job_outcomes",
            "Jobs that reached an end step (settled, declined, lost, abandoned, failed).",
            ["outcome"],
            registry=r,
        )
        self.post_to_claim = Histogram(
            PREFIX + "post_to_claim_seconds",
            "Chain time from a job's post block to our claim's block.",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.claim_to_submit = Histogram(
            PREFIX + "claim_to_submit_seconds",
            "Chain time from our claim's block to our result submission's block.",
            buckets=_WORK_BUCKETS,
            registry=r,
        )
        self.run_seconds = Histogram(
            PREFIX + "container_run_seconds",
            "Wall time a job's container ran, as the executor measured it.",
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.gas_used = Counter(
            PREFIX + "gas_used",
            "Gas used by this node's mined transactions, by contract function.",
            ["function"],
            registry=r,
        )
        self.gas_cost = Counter(
            PREFIX + "gas_cost_wei",
            "Wei paid for gas (gas used times the effective gas price), by contract function.",
            ["function"],
            registry=r,
        )
        self.errors = Counter(
            PREFIX + "errors",
            "Failures met (each retry counts), by the service they came from.",
            ["kind"],
            registry=r,
        )
        self.head = Gauge(PREFIX + "chain_head_block", "Newest block the node saw.", registry=r)
        self.cursor = Gauge(
            PREFIX + "event_cursor_block", "Last block whose events are journaled.", registry=r
        )
        self.lag = Gauge(
            PREFIX + "chain_head_lag_blocks",
            "Blocks between the confirmed head and the event cursor.",
            registry=r,
        )
        for result in ("won", "lost"):
            self.claims.labels(result)
        for outcome in OUTCOMES:
            self.outcomes.labels(str(outcome))
        for kind in ERROR_KINDS:
            self.errors.labels(kind)
        self.runtime: Runtime | None = None
        # Block timestamps of heads the follower saw (a post is usually read as the head).
        self._block_times: dict[int, int] = {}
        self._block_time_lookup: Callable[[int], int] | None = None
        self._stake_lookup: Callable[[], tuple[int, int]] | None = None
        self._lock = threading.Lock()
        r.register(_NodeState(self))

    def attach(
        self,
        runtime: Runtime,
        *,
        block_time: Callable[[int], int],
        stake: Callable[[], tuple[int, int]],
    ) -> None:
        """The running node: its journal and capacity are read at scrape time; ``block_time``
        and ``stake`` are bounded chain reads (short timeouts) for the hooks and scrapes."""
        self._block_time_lookup = block_time
        self._stake_lookup = stake
        self.runtime = runtime

    def exposition(self, accept: str | None) -> tuple[str, bytes]:
        """The content type and body of a scrape, in the format the scraper accepts."""
        encoder, content_type = choose_encoder(accept or "")
        return content_type, encoder(self.registry)

    # -- hooks (called through the module functions below) ----------------------------------

    def job_moved(
        self, before: JobRecord, step: Step, columns: Mapping[str, Any], fields: Mapping[str, Any]
    ) -> None:
        if step == Step.CLAIMED:
            self.claims.labels("won").inc()
            work_deadline = columns.get("work_deadline", before.work_deadline)
            if work_deadline is not None:
                claimed_at = int(work_deadline) - before.work_timeout
                posted_at = self._block_time(before.posted_block)
                if posted_at is not None:
                    self.post_to_claim.observe(max(0, claimed_at - posted_at))
        elif step == Step.LOST:
            self.claims.labels("lost").inc()
        elif step == Step.PINNED and fields.get("runtime_s") is not None:
            self.run_seconds.observe(max(0.0, float(fields["runtime_s"])))
        elif step == Step.SUBMITTED:
            review_deadline = columns.get("review_deadline", before.review_deadline)
            if review_deadline is not None and before.work_deadline is not None:
                submitted_at = int(review_deadline) - before.review_window
                claimed_at = before.work_deadline - before.work_timeout
                self.claim_to_submit.observe(max(0, submitted_at - claimed_at))
        if step in OUTCOMES:
            self.outcomes.labels(str(step)).inc()

    def tx_mined(self, function: str, gas_used: int, gas_price: int) -> None:
        self.gas_used.labels(function).inc(gas_used)
        self.gas_cost.labels(function).inc(gas_used * gas_price)

    def chain_polled(self, number: int, timestamp: int, cursor: int, confirmations: int) -> None:
        self.head.set(number)
        self.cursor.set(cursor)
        self.lag.set(head_lag(number, cursor, confirmations))
        with self._lock:
            self._block_times[number] = timestamp
            if len(self._block_times) > _BLOCK_TIMES_KEPT:
                for old in sorted(self._block_times)[: len(self._block_times) // 2]:
                    del self._block_times[old]

    def error_seen(self, err: BaseException) -> None:
        self.errors.labels(error_kind(err)).inc()

    def stake(self) -> tuple[int, int] | None:
        """(free, locked) stake read from the contract now; None before the node is up."""
        return None if self._stake_lookup is None else self._stake_lookup()

    def _block_time(self, number: int) -> int | None:
        with self._lock:
            known = self._block_times.get(number)
        if known is not None or self._block_time_lookup is None:
            return known
        try:
            return self._block_time_lookup(number)
        except Exception as err:
            self.error_seen(err)
            return None


class _NodeState:
    """What is read at scrape time: the journal's jobs and earnings, the chain's stake."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        rt = self.metrics.runtime
        gpus = GaugeMetricFamily(PREFIX + "gpus_free", "GPUs not allocated to a job.")
        gpus.add_metric([], rt.capacity.free_gpus() if rt is not None else 0)
        yield gpus
        if rt is None:
            return
        info = GaugeMetricFamily(
            PREFIX + "info",
            "Which node this is (always 1).",
            labels=["node_id", "account", "market", "chain_id"],
        )
        info.add_metric(
            [rt.identity.node_id, rt.me, rt.client.address, str(rt.identity.chain_id)], 1
        )
        yield info
        counts = rt.journal.step_counts()
        jobs = GaugeMetricFamily(PREFIX + "jobs", "Jobs in the journal, by step.", labels=["step"])
        for step in Step:
            jobs.add_metric([str(step)], counts.get(str(step), 0))
        yield jobs
        earnings = GaugeMetricFamily(
            PREFIX + "earnings_wei",
            "Payouts credited to the stake by settled jobs, and what submitted jobs not yet "
            "settled pay if accepted, net of the protocol fee (pending).",
            labels=["state"],
        )
        earnings.add_metric(["credited"], rt.journal.earnings())
        pending, fee_unknown = rt.journal.pending_earnings()
        # A job whose fee is not journaled yet counts at its price (no chain read per scrape).
        earnings.add_metric(["pending"], pending + sum(job.price for job in fee_unknown))
        yield earnings
        try:
            stake_now = self.metrics.stake()
        except Exception as err:  # the chain does not answer now: no stake samples this time
            self.metrics.error_seen(err)
            return
        if stake_now is None:
            return
        free, locked = stake_now
        stake = GaugeMetricFamily(
            PREFIX + "stake_wei", "The provider's stake on the market.", labels=["state"]
        )
        stake.add_metric(["free"], free)
        stake.add_metric(["locked"], locked)
        yield stake


# -- the installed instance and the hooks the node's single points call ---------------------

_installed: NodeMetrics | None = None


def install(metrics: NodeMetrics) -> None:
    global _installed
    _installed = metrics


def uninstall(metrics: NodeMetrics) -> None:
    global _installed
    if _installed is metrics:
        _installed = None


def _call(hook: str, *args: Any) -> None:
    metrics = _installed
    if metrics is None:
        return
    try:
        getattr(metrics, hook)(*args)
    except Exception:  # a metric must never cost a step
        log.debug("metrics hook %s failed", hook, exc_info=True)


def job_moved(
    before: JobRecord, step: Step, columns: Mapping[str, Any], fields: Mapping[str, Any]
) -> None:
    """``lifecycle.advance`` moved a job from ``before.step`` to ``step`` (committed)."""
    _call("job_moved", before, step, columns, fields)


def tx_mined(function: str, gas_used: int, gas_price: int) -> None:
    """The signer read the receipt of one of our transactions for the first time."""
    _call("tx_mined", function, gas_used, gas_price)


def chain_polled(number: int, timestamp: int, cursor: int, confirmations: int) -> None:
    """The follower read the head (``number``, ``timestamp``) and journaled up to ``cursor``."""
    _call("chain_polled", number, timestamp, cursor, confirmations)


def error_seen(err: BaseException) -> None:
    """A failure the node met (logged or retried)."""
    _call("error_seen", err)
