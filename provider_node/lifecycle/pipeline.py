"""One job's way through the node: decide, claim, run, pin, submit — resumable at every step.

:class:`JobPipeline` reads the job's step from the journal and performs the next one, until
the job is submitted (the settler takes it from there) or leaves the node (declined, lost,
abandoned, failed). Every step is idempotent against what the previous process may have
left behind, which is what makes ``kill -9`` at any moment safe:

* ``seen``: the job is decided; once decided it moves to ``claiming`` before its claim is
  signed;
* ``claiming``: a claim transaction already journaled for the job is followed, never re-signed;
* ``claimed``: the container is created under a deterministic name, so starting again finds
  the container a crashed process created and never runs the job twice;
* ``running``: the executor waits for the container and collects its outputs (idempotent);
  the result directory is pinned and its CID journaled *before* the container is removed;
* ``pinned``: the submit transaction is journaled before it is sent, and followed if found.

Money is never at stake before the spec has been fetched, verified and accepted, the image
found, every block of every input read and checked as staging will check it, and the disk
found to hold the inputs and the job's allowance. A job the node cannot run after claiming it
(image gone, inputs unavailable, no time left) is abandoned before its work deadline, which
costs a fraction of the collateral instead of all of it.
"""

from __future__ import annotations

import logging
import shutil
import traceback
from pathlib import Path

from jobmarket.chain.client import TransactionRefused
from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState
from jobmarket.content.cid import RAW, Cid
from jobmarket.errors import IntegrityError, NotFound, Unreachable, UserError
from jobmarket.spec.capabilities import gpu_problem as gpu_problem_of
from jobmarket.spec.capabilities import gpu_request_text
from jobmarket.spec.inputs import MiB, input_allowance, inspect_inputs
from jobmarket.spec.job import JobSpec
from jobmarket.spec.validation import DocumentInvalid
from provider_node import metrics
from provider_node.chain.signer import Mined, TxDropped
from provider_node.context.logs import emit, emit_repeated, first_line
from provider_node.context.retry import Interrupted, backoff, is_transient
from provider_node.context.runtime import Runtime
from provider_node.dev.crashpoints import crash_point
from provider_node.executor import (
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    GpuAssignment,
    ImageNotAvailable,
    InvalidRequest,
    JobContainer,
    Phase,
)
from provider_node.io.inputs import InputsUnavailable, remove_staged, stage_inputs
from provider_node.io.remote import forget_downloads, gather_inputs
from provider_node.io.results import publish_execution
from provider_node.journal.store import JobRecord, TxStatus
from provider_node.lifecycle.advance import advance, defer
from provider_node.lifecycle.policy import MIN_RUN_S
from provider_node.lifecycle.steps import UNSTAGED_STEPS, Step, Waiting

log = logging.getLogger("provider_node")

# How long a job waits before another look when the node cannot take it *now*.
DEFER_CAPACITY_S = 5.0
DEFER_STAKE_S = 30.0
DEFER_TROUBLE_S = 15.0
DEFER_RETRY_S = 2.0
DEFER_RIVAL_S = 3.0

# Claim refusals that mean "not now" rather than "never".
_CLAIM_LATER = {Revert.STAKE_TOO_LOW, Revert.PAUSED, Revert.NOT_REGISTERED}


def _mib(size: int) -> str:
    return f"{size / MiB:.0f} MiB"


class JobPipeline:
    """Drives one job from its journaled step to ``submitted`` or a final step."""

    def __init__(self, runtime: Runtime, job_id: int) -> None:
        self.rt = runtime
        self.job_id = job_id
        self.key = runtime.identity.job_key(job_id)
        self.staging = runtime.identity.staging_folder / str(job_id)
        self._spec: JobSpec | None = None
        self._post_seen_at: float | None = None  # which post of the job this pipeline serves
        self._holding_inputs = False  # this pipeline placed the job's inputs hold

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        pauses = backoff(first=1.0, longest=15.0)
        try:
            while not self.rt.stop.is_set():
                job = self._job()
                if self._post_seen_at is None:
                    self._post_seen_at = job.seen_at
                elif job.seen_at != self._post_seen_at:
                    # A reorg replaced the job's post: this pipeline's decision, spec and
                    # transactions belong to another job. A new pipeline decides it afresh.
                    emit(log, "pipeline-stopped", job=self.job_id, reason="the post changed")
                    return
                try:
                    if job.step in (Step.SEEN, Step.CLAIMING):
                        if not self._decide_and_claim(job):
                            return
                    elif job.step == Step.ABANDONING:
                        self._abandon(job, job.reason)
                    elif job.step == Step.CLAIMED:
                        self._start(job)
                    elif job.step == Step.RUNNING:
                        self._finish_run(job)
                    elif job.step == Step.PINNED:
                        self._submit(job)
                    else:
                        self._clean_up()
                        return
                except Interrupted:
                    raise
                except Exception as err:
                    if not self._survive(job, err, next(pauses)):
                        return
        except Interrupted:
            emit(log, "interrupted", job=self.job_id, step=str(self._step()))
        finally:
            if self._holding_inputs and self._step() not in UNSTAGED_STEPS:
                self._drop_inputs_hold()  # declined, lost, …: the inputs are not needed
            self.rt.capacity.release(self.job_id)
            self.rt.wake.set()

    def _survive(self, job: JobRecord, err: Exception, pause: float) -> bool:
        """A step failed unexpectedly: retry it or give the claim back (True: the loop goes
        on), or leave an undecided job for later (False)."""
        transient = is_transient(err)
        emit_repeated(
            log,
            "step-error",
            logging.WARNING if transient else logging.ERROR,
            (str(self.job_id), str(job.step), type(err).__name__),
            job=self.job_id,
            step=str(job.step),
            cause=err,
            retry_in=pause if transient else None,
        )
        if not transient:
            log.debug("%s", traceback.format_exc())
        if job.step == Step.SEEN:
            pause = DEFER_RETRY_S if transient else DEFER_TROUBLE_S
            self._defer(job, Waiting.TROUBLE, f"could not decide: {first_line(err)}", pause)
            return False
        if job.step in (Step.CLAIMED, Step.RUNNING) and (
            not transient or self._seconds_left(job) < self.rt.settings.delivery_margin_s
        ):
            # The loop's next turn gives the job back, retried like any step if that fails too
            # (abandoning here, inside the error handler, would let its own failure escape).
            why = f"internal error: {first_line(err)}"
            self._mark_abandoning(why)
            return True
        if self.rt.stop.wait(pause):
            raise Interrupted(f"job {self.job_id}")
        return True

    # -- seen: decide and claim --------------------------------------------------------------

    def _decide_and_claim(self, job: JobRecord) -> bool:
        """True once the job is ours (claimed), False if it left the pipeline for now."""
        pending = self.rt.journal.latest_tx(self.job_id, "claim")
        resuming = job.step == Step.CLAIMING or (
            pending is not None and pending.status in (*TxStatus.UNFINISHED, TxStatus.MINED)
        )
        if not resuming:
            if self.rt.stop.is_set():
                return False
            reasons = self.rt.policy.precheck(job, self.rt.chain_now())
            if reasons:
                return self._decline(reasons)
            spec = self._fetch_spec_for_decision(job)
            if spec is None:
                return False
            reasons = self.rt.policy.check_spec(spec, job)
            if reasons:
                return self._decline(reasons)
            try:
                reasons, disk_bytes = self._local_problems(spec, job)
            except Unreachable as err:
                metrics.error_seen(err)
                return self._defer(
                    job,
                    Waiting.TROUBLE,
                    f"content store unreachable: {err.problem}",
                    DEFER_TROUBLE_S,
                )
            if reasons:
                return self._decline(reasons)
        else:
            spec = self._spec_or_none(job)
            disk_bytes = 0
        cpu = spec.resources.cpu if spec else 0.0
        memory = spec.resources.memory_mb if spec else 0
        if not self.rt.capacity.try_reserve(
            self.job_id,
            cpu,
            memory,
            job.collateral,
            disk_bytes=disk_bytes,
            disk_free=None if resuming else self._free_disk() - self._disk_margin(),
            force=resuming,
            gpu=spec.resources if spec else None,
            held_gpus=job.gpu_indexes if resuming and job.gpus else None,
        ):
            reason = "waiting for a free slot"
            if spec is not None and spec.resources.gpu:
                reason = self.rt.capacity.gpu_wait_reason(spec.resources) or reason
            return self._defer(job, Waiting.CAPACITY, reason, DEFER_CAPACITY_S)
        if not resuming and not self._enough_stake(job):
            return False
        if job.step == Step.SEEN:
            gpus = ",".join(map(str, self.rt.capacity.gpus_of(self.job_id))) or None
            advance(
                self.rt.journal,
                self.job_id,
                Step.CLAIMING,
                cpu=cpu,
                memory_mb=memory,
                gpus=gpus,
                log_fields={"gpus": gpus} if gpus else None,
            )
        try:
            record = self.rt.txs.ensure("claim", self.job_id, job_id=self.job_id)
            mined = self.rt.txs.wait(record)
        except TransactionRefused as err:
            return self._claim_refused(job, err)
        except TxDropped as err:
            return self._decline([f"claim transaction dropped: {err.problem}"])
        self._claimed(job, mined)
        return True

    def _fetch_spec_for_decision(self, job: JobRecord) -> JobSpec | None:
        try:
            return self._spec_of(job)
        except DocumentInvalid as err:
            self._decline([f"spec invalid: {'; '.join(err.lines)[:300]}"])
        except (NotFound, IntegrityError) as err:
            self._decline([f"spec unavailable: {err.problem}"])
        except Unreachable as err:
            metrics.error_seen(err)
            self._defer(
                job, Waiting.TROUBLE, f"content store unreachable: {err.problem}", DEFER_TROUBLE_S
            )
        return None

    def _local_problems(self, spec: JobSpec, job: JobRecord) -> tuple[list[str], int]:
        """What stops this machine from running the spec — the image, any input (every block
        read and checked, as staging will), the disk — and the disk bytes the job may take.
        With none, the spec and the inputs are held in the store until staged."""
        problems = []
        machine_gpus = list(self.rt.capacity.gpu_devices.values())
        gpu_problem = gpu_problem_of(spec.resources, machine_gpus, "this machine")
        if gpu_problem is not None and self.rt.capacity.gpus_unusable:
            asked = gpu_request_text(spec.resources)
            gpu_problem = f"gpu: the job asks for {asked}; {self.rt.capacity.gpus_unusable}"
        if gpu_problem is not None:  # the published terms may say more than the machine has
            problems.append(gpu_problem)
        try:
            self.rt.executor.check_image(spec.image)
        except (ImageNotAvailable, InvalidRequest) as err:
            problems.append(err.problem)
        gathered = gather_inputs(self.rt.store, spec, self._downloads, job_id=self.job_id)
        problems += gathered.problems
        spec = gathered.spec
        inputs = inspect_inputs(self.rt.store.get_block, spec)
        problems += inputs.problems
        if not problems:
            # Every block is here now: keep them, and the spec, from any garbage collection
            # (the store's, or the operator's Kubo's) until staged, or the claim could fail
            # for want of them after it is made.
            roots = [Cid.from_digest(job.spec_digest, RAW)]
            roots += [Cid.parse(mount.cid) for mount in spec.inputs]
            self.rt.store.hold(self.rt.identity.inputs_hold(self.job_id), roots)
            self._holding_inputs = True
        needed = inputs.total_bytes + input_allowance(spec)
        if not problems:
            free, margin = self._free_disk(), self._disk_margin()
            if needed + margin > free:
                problems.append(
                    f"disk: the job may take {_mib(needed + margin)} (inputs "
                    f"{_mib(inputs.total_bytes)}, resources.disk_mb {spec.resources.disk_mb} MiB, "
                    f"margin {_mib(margin)}); this node has {_mib(free)} free"
                )
        return problems, needed

    @property
    def _downloads(self) -> Path:
        """Where URL inputs are downloaded (by sha256) before they are verified and added."""
        return self.rt.identity.downloads_folder

    def _free_disk(self) -> int:
        """Free bytes where inputs are staged and outputs collected (the node's folder)."""
        return shutil.disk_usage(self.rt.identity.folder).free

    def _disk_margin(self) -> int:
        """Free disk kept for the node itself (journal, results), once for all jobs."""
        return self.rt.settings.disk_margin_mb * MiB

    def _enough_stake(self, job: JobRecord) -> bool:
        info = self.rt.client.provider_info(self.rt.me)
        free = info.free - self.rt.capacity.pending_collateral(excluding=self.job_id)
        if free >= job.collateral:
            return True
        self.rt.capacity.release(self.job_id, notify=False)  # nothing was freed for others
        return self._defer(
            job,
            Waiting.STAKE,
            f"stake too low: the claim locks {self.rt.client.currency.format(job.collateral)}, "
            f"{self.rt.client.currency.format(max(free, 0))} is free",
            DEFER_STAKE_S,
        )

    def _claim_refused(self, job: JobRecord, err: TransactionRefused) -> bool:
        self.rt.capacity.release(self.job_id)
        if self._stale():
            return False
        where = {"tx": err.mined_tx} if err.mined_tx else {}
        if err.reason == Revert.JOB_NOT_OPEN:
            current = self.rt.client.job(self.job_id)
            if current.state == JobState.OPEN and not err.mined_tx:
                # Refused against the pending block: a rival claim waits to be mined. Its
                # JobClaimed event settles the race (ledger: lost); if it fails, we try again.
                self._back_to_seen()
                return self._defer(
                    job, Waiting.RIVAL_CLAIM, "another provider's claim is pending", DEFER_RIVAL_S
                )
            winner = f" by {current.provider}" if current.provider else ""
            advance(
                self.rt.journal,
                self.job_id,
                Step.LOST,
                only_from=(Step.SEEN, Step.CLAIMING, Step.DECLINED),
                open=0,
                log_fields=where,
                reason=f"claimed first{winner} (job is {current.state.name.lower()})",
            )
            return False
        if err.reason in _CLAIM_LATER:
            # Re-staking (or un-pausing, registering) frees room: the job waits for stake.
            self._back_to_seen()
            return self._defer(
                job, Waiting.STAKE, f"claim refused for now: {err.reason}", DEFER_STAKE_S
            )
        return self._decline([f"claim refused: {err.reason}"], **where)

    def _back_to_seen(self) -> None:
        """Our claim was not taken: the job is undecided again (and waits, see _defer)."""
        advance(
            self.rt.journal,
            self.job_id,
            Step.SEEN,
            only_from=(Step.CLAIMING,),
            reason="claim not taken",
            level=logging.DEBUG,
        )

    def _claimed(self, job: JobRecord, mined: Mined) -> None:
        if self._stale():
            return
        self.rt.capacity.claimed(self.job_id)
        event = mined.event("JobClaimed")
        work_deadline = int(event.args["work_deadline"]) if event else self._read_work_deadline()
        record = mined.record
        advance(
            self.rt.journal,
            self.job_id,
            Step.CLAIMED,
            only_from=(Step.SEEN, Step.CLAIMING),
            open=0,
            work_deadline=work_deadline,
            log_fields={
                "tx": record.hash,
                "gas": record.gas_used,
                "block": record.block_number,
                "blocks_after_post": (record.block_number or 0) - job.posted_block,
                "work_deadline": work_deadline,
            },
        )
        crash_point("claimed", self.job_id)

    def _read_work_deadline(self) -> int:
        return self.rt.client.job(self.job_id).deadline

    # -- claimed: stage inputs and start the container ---------------------------------------

    def _start(self, job: JobRecord) -> None:
        existing = self._container()
        if existing is not None and existing.phase != Phase.CREATED:
            # A previous process started it: it is waited for, never run again.
            self._running(job, existing, resumed=True)
            return
        try:
            spec = self._spec_of(job)
        except UserError as err:
            self._abandon(job, f"spec no longer available: {err.problem}")
            return
        seconds_left = self._seconds_left(job)
        if seconds_left < self.rt.settings.delivery_margin_s + MIN_RUN_S:
            self._abandon(job, "too little time left before the work deadline to run it")
            return
        gpus, gpu_trouble = self._allocated_gpus(job, spec)
        if gpu_trouble is not None:
            self._abandon(job, gpu_trouble)
            return
        gathered = gather_inputs(self.rt.store, spec, self._downloads, job_id=self.job_id)
        if gathered.problems:
            self._abandon(job, "; ".join(gathered.problems)[:1000])
            return
        forget_downloads(spec, self._downloads)
        spec = gathered.spec
        try:
            inputs = stage_inputs(self.rt.store, spec, self.staging)
        except InputsUnavailable as err:
            self._abandon(job, err.problem)
            return
        self._drop_inputs_hold()  # staged: the container reads the copies
        limits = self.rt.policy.limits(spec, seconds_left)
        try:
            request = ExecutionRequest(
                key=self.key,
                image=spec.image,
                argv=tuple(spec.command),
                env=spec.env,
                inputs=inputs,
                limits=limits,
                gpus=gpus,
            )
            container = self.rt.executor.start(request)
        except (ImageNotAvailable, InvalidRequest) as err:
            self._abandon(job, err.problem)
            return
        except ExecutorError as err:
            self._abandon(job, f"the executor could not start it: {err.problem}")
            return
        self._running(job, container, resumed=False, timeout=limits.timeout_s)

    def _allocated_gpus(
        self, job: JobRecord, spec: JobSpec
    ) -> tuple[tuple[GpuAssignment, ...], str | None]:
        """The GPUs journaled for the job, as the executor takes them, or why they cannot be
        given (none allocated, or one no longer on this machine)."""
        indexes = job.gpu_indexes
        if len(indexes) < spec.resources.gpu:
            return (), f"no GPU was allocated to this job ({len(indexes)} of {spec.resources.gpu})"
        devices = self.rt.capacity.gpu_devices
        missing = [index for index in indexes if index not in devices]
        if missing:
            return (), f"GPU {missing[0]} allocated to this job is no longer on this machine"
        return tuple(
            GpuAssignment(index, devices[index].model, devices[index].uuid) for index in indexes
        ), None

    def _running(
        self,
        job: JobRecord,
        container: JobContainer,
        *,
        resumed: bool,
        timeout: float | None = None,
    ) -> None:
        fields = {"container": container.container_id[:12], "timeout_s": timeout}
        if resumed:
            fields["resumed"] = True
        advance(
            self.rt.journal, self.job_id, Step.RUNNING, only_from=(Step.CLAIMED,), log_fields=fields
        )
        crash_point("running", self.job_id)

    # -- running: wait, collect, publish -----------------------------------------------------

    def _finish_run(self, job: JobRecord) -> None:
        result = self._collected_result()
        if result is None:
            self._abandon(job, "the job's container disappeared before its outputs were collected")
            return
        runtime_s = round(max(0.0, result.runtime_s or 0.0), 3)
        emit(
            log,
            "ran",
            job=self.job_id,
            status=result.status.value,
            exit_code=result.exit_code,
            runtime_s=runtime_s,
            outputs=len(result.outputs),
            output_bytes=result.output_bytes,
            refused=max(result.refused_total, len(result.refused)) or None,
            output_limit=result.output_limit,
            logs_truncated=result.logs_truncated or None,
            error=result.error.splitlines()[0][:200] if result.error else None,
        )
        spec = self._spec_of(job)
        cid, manifest = publish_execution(
            self.rt.store,
            result,
            job_id=self.job_id,
            spec=spec,
            spec_cid=Cid.from_digest(job.spec_digest, RAW),
            folder=self.rt.identity.results_folder / str(self.job_id),
        )
        with self.rt.journal.durable():  # the container and its outputs go next
            advance(
                self.rt.journal,
                self.job_id,
                Step.PINNED,
                only_from=(Step.RUNNING,),
                result_cid=str(cid),
                status=manifest.status,
                exit_code=manifest.exit_code,
                log_fields={"cid": str(cid), "status": manifest.status, "runtime_s": runtime_s},
            )
        crash_point("pinned", self.job_id)
        self._remove_container()
        self.rt.capacity.release(self.job_id)
        self.rt.wake.set()

    def _collected_result(self) -> ExecutionResult | None:
        jobdir = self.rt.executor.jobdir(self.key)
        container = self._container()
        if container is None:
            if jobdir.result_path.exists():
                return ExecutionResult.load(jobdir.result_path)
            return None
        self.rt.executor.wait(container)
        return self.rt.executor.collect(container)

    # -- pinned: submit ----------------------------------------------------------------------

    def _submit(self, job: JobRecord) -> None:
        assert job.result_cid is not None
        digest = Cid.parse(job.result_cid).digest
        try:
            record = self.rt.txs.ensure("submit_result", self.job_id, digest, job_id=self.job_id)
            mined = self.rt.txs.wait(record)
        except TransactionRefused as err:
            self._submit_refused(job, err)
            return
        except TxDropped as err:
            emit(log, "step-error", logging.WARNING, job=self.job_id, error=err.problem)
            return  # the next loop sends a new submit
        event = mined.event("ResultSubmitted")
        review_deadline = int(event.args["review_deadline"]) if event else None
        record = mined.record
        advance(
            self.rt.journal,
            self.job_id,
            Step.SUBMITTED,
            only_from=(Step.PINNED,),
            review_deadline=review_deadline,
            log_fields={
                "tx": record.hash,
                "gas": record.gas_used,
                "block": record.block_number,
                "cid": job.result_cid,
            },
        )
        crash_point("submitted", self.job_id)
        self._clean_up()

    def _submit_refused(self, job: JobRecord, err: TransactionRefused) -> None:
        current = self.rt.client.job(self.job_id)
        where = {"tx": err.mined_tx} if err.mined_tx else {}
        if err.reason == Revert.WORK_DEADLINE_PASSED:
            reason = "the work deadline passed before the result was submitted"
        else:
            reason = f"submit refused ({err.reason}); the job is {current.state.name.lower()}"
        advance(
            self.rt.journal,
            self.job_id,
            Step.FAILED,
            reason=reason,
            level=logging.WARNING,
            log_fields=where,
        )
        self._clean_up()

    # -- leaving -----------------------------------------------------------------------------

    def _mark_abandoning(self, why: str) -> bool:
        """Journal that the claimed job is being given back; False when the chain moved it."""
        return advance(
            self.rt.journal,
            self.job_id,
            Step.ABANDONING,
            only_from=(Step.CLAIMED, Step.RUNNING),
            reason=why,
            level=logging.WARNING,
        )

    def _abandon(self, job: JobRecord, why: str) -> None:
        """Give a claimed job back before its work deadline (a partial slash, not a full one)."""
        if job.step != Step.ABANDONING and not self._mark_abandoning(why):  # no way back now
            return  # the chain moved the job first (lost in a reorg, reclaimed)
        self._remove_container()
        try:
            mined = self.rt.txs.wait(self.rt.txs.ensure("abandon", self.job_id, job_id=self.job_id))
        except TransactionRefused as err:
            advance(
                self.rt.journal,
                self.job_id,
                Step.FAILED,
                level=logging.WARNING,
                reason=f"{why}; abandoning was refused ({err.reason})",
            )
        else:
            event = mined.event("JobAbandoned")
            slashed = int(event.args["slashed"]) if event else 0
            advance(
                self.rt.journal,
                self.job_id,
                Step.ABANDONED,
                only_from=(Step.ABANDONING,),
                reason=why,
                level=logging.WARNING,
                log_fields={
                    "tx": mined.record.hash,
                    "gas": mined.record.gas_used,
                    "slashed": self.rt.client.currency.format(slashed),
                },
            )
        self._clean_up()

    def _stale(self) -> bool:
        """A reorg replaced the job's post since this pipeline began: it must not decide the
        new post (a new pipeline does)."""
        job = self.rt.journal.job(self.job_id)
        return job is None or (self._post_seen_at is not None and job.seen_at != self._post_seen_at)

    def _decline(self, reasons: list[str], **fields: object) -> bool:
        if self._stale():
            return False
        if self._spec is not None:  # URL inputs downloaded while deciding: not needed now
            forget_downloads(self._spec, self._downloads)
        advance(
            self.rt.journal,
            self.job_id,
            Step.DECLINED,
            only_from=(Step.SEEN, Step.CLAIMING),
            reason="; ".join(reasons)[:1000],
            log_fields=fields,
        )
        return False

    def _defer(self, job: JobRecord, waiting: Waiting, reason: str, seconds: float) -> bool:
        """Not now: look at the job again after ``seconds``, or when room of the kind
        ``waiting`` names frees up (a job ends, stake is freed or added)."""
        if self._stale():
            return False
        if defer(self.rt.journal, self.job_id, waiting, reason, seconds):
            # one line per new reason, not one per retry
            emit(
                log,
                "deferred",
                job=self.job_id,
                waiting=str(waiting),
                reason=reason,
                retry_in=seconds,
            )
        return False

    def _drop_inputs_hold(self) -> None:
        """The job's inputs may go; a store that does not answer now leaves the hold to the
        housekeeper (it drops holds of jobs past staging)."""
        try:
            self.rt.store.drop(self.rt.identity.inputs_hold(self.job_id))
        except UserError as err:
            emit(log, "hold-kept", logging.WARNING, job=self.job_id, error=err.problem[:200])
        self._holding_inputs = False

    def _clean_up(self) -> None:
        self._remove_container()
        remove_staged(self.staging)

    def _remove_container(self) -> None:
        self.rt.executor.remove(self.key, purge=True)

    # -- helpers -----------------------------------------------------------------------------

    def _job(self) -> JobRecord:
        job = self.rt.journal.job(self.job_id)
        if job is None:
            raise KeyError(f"job {self.job_id} is not in the journal")
        return job

    def _step(self) -> Step:
        job = self.rt.journal.job(self.job_id)
        return job.step if job else Step.DECLINED

    def _spec_of(self, job: JobRecord) -> JobSpec:
        if self._spec is None:
            self._spec = JobSpec.fetch(self.rt.store, job.spec_digest)
        return self._spec

    def _spec_or_none(self, job: JobRecord) -> JobSpec | None:
        try:
            return self._spec_of(job)
        except UserError:
            return None

    def _container(self) -> JobContainer | None:
        return self.rt.executor.find_job_container(self.key)

    def _seconds_left(self, job: JobRecord) -> float:
        deadline = job.work_deadline or self._read_work_deadline()
        return deadline - self.rt.chain_now()
