"""``provider-node run``: start-up checks, recovery, the event loop and a clean shutdown.

The loop, every ``--poll-interval`` (0.1 s on a local chain, 1 s elsewhere) or at once when a
job frees its slot: read new events into the journal (:mod:`follower`, :mod:`ledger`), then
start pipelines for what can run (:mod:`scheduler`). Pipelines (one thread per job) and the
settler (one thread) do everything that waits on the chain or on Docker, so a new job is seen
within one poll whatever else is going on.

On SIGTERM or SIGINT the node stops taking jobs and gives pipelines ``--shutdown-grace``
seconds to reach their next journaled step. Containers still running are left running: they
are labelled with the node's id and their jobs journaled as ``running``, so the next start
waits for them (enforcing their original deadline) and delivers their results.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import IO, TypeVar

from jobmarket.content.peers import connect_configured_peers
from jobmarket.content.store import ContentStore, open_store
from jobmarket.errors import Unreachable, UserError
from jobmarket.spec.capabilities import ProviderCapabilities
from provider_node.api.server import NodeApi
from provider_node.chain.events import Ledger
from provider_node.chain.follower import ChainFollower
from provider_node.chain.registration import CAPABILITIES_META, load_capabilities, registered_digest
from provider_node.context.identity import RUN_LOCK_NAME
from provider_node.context.logs import emit, emit_repeated, error_field
from provider_node.context.retry import backoff, is_transient, retry_transient
from provider_node.context.runtime import Runtime
from provider_node.context.session import Session
from provider_node.context.settings import NodeSettings
from provider_node.executor import DockerExecutor
from provider_node.gpus import usable_gpus
from provider_node.health import OperatorListener
from provider_node.lifecycle.capacity import Capacity
from provider_node.lifecycle.housekeeping import Housekeeper
from provider_node.lifecycle.policy import JobPolicy
from provider_node.lifecycle.recovery import recover
from provider_node.lifecycle.reorg import ReorgReconciler
from provider_node.lifecycle.scheduler import Scheduler
from provider_node.lifecycle.settler import Settler
from provider_node.lifecycle.steps import Waiting

log = logging.getLogger("provider_node")
T = TypeVar("T")

# How long start-up keeps retrying transient failures (dropped or reset connections).
STARTUP_RETRY_S = 10.0


def retry_start_up(call: Callable[[], T]) -> T:
    """``call()`` (a start-up step), retried with bounded backoff while its failures are
    transient (connections dropped or reset); one line (exit 3) once they outlast
    :data:`STARTUP_RETRY_S`."""
    try:
        # Quiet unless -v: if the retries fail, their one error line says it all.
        return retry_transient(
            call,
            what="start-up",
            log=log,
            give_up_after_s=STARTUP_RETRY_S,
            pauses=backoff(first=0.5, longest=4.0),
            event="startup-retry",
            level=logging.DEBUG,
        )
    except UserError:
        raise
    except Exception as err:
        if not is_transient(err):
            raise
        raise Unreachable(
            f"the node could not start: {error_field(err)} "
            f"(still failing after {STARTUP_RETRY_S:g} s of retries)",
            "check that the RPC endpoint, Docker and the content store answer, "
            "then start the node again",
        ) from None


class Node:
    def __init__(self, session: Session, settings: NodeSettings) -> None:
        self.session = session
        self.settings = settings
        self._lock_file: IO[str] | None = None
        self._capabilities_digest = ""
        self._operator: OperatorListener | None = None

    # -- start-up ----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM/SIGINT. Raises UserError (one line) if the node cannot start."""
        started = time.monotonic()
        try:
            self._open_operator_listener()
            rt, counts = self._start_up_with_retries()
        except BaseException:
            self._close_operator_listener()
            self.session.close()
            raise
        ledger = Ledger(rt.journal, rt.me, rt.client.currency.format)
        follower = ChainFollower(
            rt.client,
            rt.journal,
            start_block=self.settings.start_block
            if self.settings.start_block is not None
            else rt.client.start_block,
            on_events=ledger.apply,
            on_reorg=lambda fork: reconciler.note_fork(fork),
            confirmations=self.settings.confirmations,
            max_span=self.settings.max_log_span,
        )
        if self._operator is not None:
            self._operator.attach(rt, follower.start_block)
        scheduler = Scheduler(rt)
        reconciler = ReorgReconciler(rt, ledger.reposted, scheduler.stop_job)
        settler = Settler(rt)
        housekeeper = Housekeeper(rt)
        api = self._start_api(rt)
        self._install_signal_handlers(rt)
        emit(
            log,
            "ready",
            node=rt.identity.node_id,
            account=rt.me,
            market=rt.client.address,
            chain=rt.client.chain_id,
            from_block=follower.next_block,
            max_jobs=self.settings.max_jobs,
            gpus=len(rt.capacity.gpu_devices),
            confirmations=self.settings.confirmations,
            store=rt.store.location,
            api=api.url if api else None,
            startup_s=round(time.monotonic() - started, 3),
            **counts,
        )
        settler.start()
        housekeeper.start()
        try:
            self._loop(rt, follower, ledger, scheduler, reconciler, started)
        finally:
            if api is not None:
                rt.stop.set()  # open log streams end first, before the journal closes
                api.close()
            self._shut_down(rt, scheduler, settler, housekeeper)

    def _start_api(self, rt: Runtime) -> NodeApi | None:
        """The read-only node API, when ``--api-listen`` asked for it."""
        if self.settings.api_listen is None:
            return None
        api = NodeApi(
            (self.settings.api_listen.host, self.settings.api_listen.port),
            journal=rt.journal,
            node={"account": rt.me, "market": rt.client.address, "chain_id": rt.client.chain_id},
            jobdir_of=lambda job_id: rt.executor.jobdir(rt.identity.job_key(job_id)),
            stop=rt.stop,
        )
        try:
            api.start()
        except BaseException:
            rt.executor.close()
            rt.store.close()
            self.session.close()
            self._release_run_lock()
            raise
        return api

    def _start_up_with_retries(self) -> tuple[Runtime, dict[str, int]]:
        def attempt() -> tuple[Runtime, dict[str, int]]:
            rt: Runtime | None = None
            try:
                rt = self._start_up()
                return rt, recover(rt)
            except BaseException:
                if rt is not None:
                    rt.executor.close()
                    rt.store.close()
                self._release_run_lock()
                raise

        return retry_start_up(attempt)

    def _start_up(self) -> Runtime:
        session = self.session
        client = session.client  # RPC reachable, deployment recorded and live
        account = session.account
        identity = session.identity
        self._take_run_lock(identity.folder / RUN_LOCK_NAME, account.address)
        journal = session.journal
        store = open_store()
        _probe_store(store)
        connect_configured_peers(store)  # JOBMARKET_IPFS_PEERS: a private network's bootstrap
        info = client.provider_info(account.address)
        if not info.registered:
            raise UserError(
                f"account {account.address} is not registered as a provider on this market",
                "run `provider-node register` first",
            )
        digest = registered_digest(client, account.address, journal)
        if digest is None:
            raise UserError(
                f"no capability document found for {account.address}",
                "run `provider-node register` again",
            )
        capabilities = load_capabilities(store, digest)
        self._capabilities_digest = digest.hex()
        _, _, collateral_bps, _ = client.contract.functions.params().call()
        if info.stake == 0 and collateral_bps > 0:
            raise UserError(
                f"account {account.address} has no stake, and every claim on this market locks "
                f"{collateral_bps / 100:g}% of the price as collateral",
                "run `provider-node stake AMOUNT` (e.g. 0.1ether, or 100 on a token market)",
            )
        policy = JobPolicy(capabilities, self.settings, client.currency)
        stop = threading.Event()
        executor = DockerExecutor(
            identity.node_id, policy=policy.executor_policy(), work_root=identity.jobs_folder
        )
        txs = session.tx_manager(stop=stop, poll_s=min(0.1, self.settings.poll_interval_s))
        gpus, gpus_unusable = usable_gpus(executor.engine_info())
        if gpus_unusable:  # GPU jobs are declined before any claim until the runtime is there
            emit(log, "gpus-unusable", logging.WARNING, problem=gpus_unusable)
        return Runtime(
            identity=identity,
            client=client,
            account=account,
            journal=journal,
            txs=txs,
            executor=executor,
            store=store,
            policy=policy,
            capacity=Capacity(
                capabilities.hardware.cpus,
                capabilities.hardware.memory_mb,
                self.settings.max_jobs,
                gpus=gpus,
                gpus_unusable=gpus_unusable,
            ),
            settings=self.settings,
            stop=stop,
        )

    def _take_run_lock(self, path: Path, account: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            lock.close()
            raise UserError(
                f"another provider-node run (pid {holder}) is already serving {account} here",
                "stop it first; one node per account and market",
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock_file = lock

    def _install_signal_handlers(self, rt: Runtime) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            if rt.stop.is_set():
                raise KeyboardInterrupt  # a second signal: stop waiting
            emit(log, "stopping", signal=signal.Signals(signum).name)
            rt.stop.set()
            rt.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    # -- the loop ----------------------------------------------------------------------------

    def _loop(
        self,
        rt: Runtime,
        follower: ChainFollower,
        ledger: Ledger,
        scheduler: Scheduler,
        reconciler: ReorgReconciler,
        started: float,
    ) -> None:
        caught_up = caught_up_logged = False
        next_poll = 0.0
        pauses = backoff(first=0.5, longest=5.0)
        while not rt.stop.is_set():
            try:
                # The chain is read every poll interval (at once while catching up); the
                # scheduler also runs whenever a pipeline ends, without another RPC round trip.
                if not caught_up or time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.settings.poll_interval_s
                    result = follower.poll()
                    reconciler.reconcile()  # after a reorg: the journal as the chain now is
                    rt.head_timestamp = result.head.timestamp
                    caught_up = result.caught_up
                    if caught_up and not caught_up_logged:
                        caught_up_logged = True
                        emit(
                            log,
                            "caught-up",
                            block=result.scanned_to,
                            jobs_seen=ledger.new_jobs,
                            elapsed=round(time.monotonic() - started, 3),
                        )
                    self._reload_capabilities(rt)
                if rt.capacity.freed.is_set():
                    rt.capacity.freed.clear()
                    rt.journal.clear_deferrals((Waiting.CAPACITY, Waiting.STAKE))
                busy = scheduler.tick() or not caught_up
                pauses = backoff(first=0.5, longest=5.0)
            except Exception as err:
                pause = next(pauses)
                level = logging.WARNING if is_transient(err) else logging.ERROR
                emit_repeated(
                    log,
                    "loop-error",
                    level,
                    (type(err).__name__,),
                    cause=err,
                    retry_in=pause,
                )
                log.debug("loop error", exc_info=True)
                rt.stop.wait(pause)
                continue
            rt.wake.wait(0 if busy else max(0.0, next_poll - time.monotonic()))
            rt.wake.clear()

    def _reload_capabilities(self, rt: Runtime) -> None:
        """A new ``register`` while running: apply the new terms without a restart, to the
        decisions and to the executor's ceiling alike (else raised maxima are accepted by the
        policy and then clamped back by the executor)."""
        current = rt.journal.get_meta(CAPABILITIES_META)
        if current is None or current == self._capabilities_digest:
            return
        try:
            capabilities: ProviderCapabilities = load_capabilities(rt.store, bytes.fromhex(current))
        except UserError as err:
            emit(log, "capabilities-unreadable", logging.WARNING, error=err.message)
            return
        rt.policy = JobPolicy(capabilities, self.settings, rt.client.currency)
        rt.executor.policy = rt.policy.executor_policy()
        self._capabilities_digest = current
        emit(log, "capabilities-updated", digest="0x" + current)

    # -- shutdown ----------------------------------------------------------------------------

    def _shut_down(
        self, rt: Runtime, scheduler: Scheduler, settler: Settler, housekeeper: Housekeeper
    ) -> None:
        rt.stop.set()
        rt.wake.set()
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        busy = scheduler.join(deadline)
        settler.join(max(0.0, deadline - time.monotonic()))
        housekeeper.join(max(0.0, deadline - time.monotonic()))
        left = {job_id: str(job.step) for job_id in busy if (job := rt.journal.job(job_id))}
        emit(
            log,
            "stopped",
            jobs_left_in_progress=",".join(f"{k}:{v}" for k, v in left.items()) or None,
        )
        self._close_operator_listener()
        rt.executor.close()
        rt.store.close()
        if not busy:
            self.session.close()
        self._release_run_lock()

    # -- /metrics and /healthz -------------------------------------------------------------

    def _open_operator_listener(self) -> None:
        if self.settings.metrics_listen is None:
            return
        self._operator = OperatorListener(self.settings.metrics_listen)
        emit(log, "listening", serves="/metrics /healthz", url=self._operator.url)

    def _close_operator_listener(self) -> None:
        if self._operator is not None:
            self._operator.close()
            self._operator = None

    def _release_run_lock(self) -> None:
        if self._lock_file is not None:
            with suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


def _probe_store(store: ContentStore) -> None:
    """A Kubo store must answer now, not at the first job."""
    version = getattr(store, "version", None)
    if version is None:
        return
    try:
        version()
    except UserError:
        raise
    except Exception as err:
        raise Unreachable(
            f"the IPFS API at {store.location} does not answer ({type(err).__name__})",
            "start the IPFS daemon, or unset IPFS_API to use the embedded store",
        ) from None
