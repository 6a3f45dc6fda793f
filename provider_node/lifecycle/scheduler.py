"""Which jobs get a pipeline thread now.

Each tick (from the event loop) the scheduler

1. supervises: every job holding a claim or acquiring one (``claiming``, ``claimed``,
   ``running``, ``pinned``, ``abandoning``) has a pipeline; one that died or was interrupted
   gets a new one, after a pause if it failed recently;
2. declines, in bulk and without any I/O, the open jobs the terms alone rule out (price below
   the floor, claim deadline passed): a fresh node's backlog of old jobs clears in moments;
3. hands the remaining open jobs, best paid first, to pipelines while execution slots are
   free — a few more pipelines than slots may be deciding at once, since most decisions
   end in "no" without claiming.
"""

from __future__ import annotations

import logging
import threading
import time

from provider_node.context.logs import emit
from provider_node.context.runtime import Runtime
from provider_node.lifecycle.advance import advance
from provider_node.lifecycle.pipeline import JobPipeline
from provider_node.lifecycle.steps import HOLDING_STEPS, Step

log = logging.getLogger("provider_node")

# Pipelines deciding beyond the execution slots (deciding is cheap, claiming is not).
EXTRA_DECIDERS = 4
CANDIDATE_BATCH = 64
RESUPERVISE_S = 5.0


class Scheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.active: dict[int, threading.Thread] = {}
        self._last_start: dict[int, float] = {}

    def tick(self) -> bool:
        """Start what can start; True if more work is waiting (the loop should not sleep)."""
        self._reap()
        if self.rt.stop.is_set():
            return False
        self._supervise()
        return self._dispatch_candidates()

    def stop_job(self, job_id: int) -> None:
        """The chain took the job from us (a reorg): stop its container, free its slot. Its
        pipeline sees the new step and ends without delivering."""
        self.rt.executor.remove(self.rt.identity.job_key(job_id), purge=True)
        self.rt.capacity.release(job_id)
        self.rt.wake.set()
        emit(log, "job-stopped", job=job_id)

    def in_flight(self) -> list[int]:
        self._reap()
        return sorted(self.active)

    def join(self, deadline: float) -> list[int]:
        """Wait for pipelines to stop (until ``deadline``, monotonic); returns those still busy."""
        for thread in list(self.active.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.in_flight()

    # -- internals ---------------------------------------------------------------------------

    def _reap(self) -> None:
        for job_id, thread in list(self.active.items()):
            if not thread.is_alive():
                del self.active[job_id]

    def _supervise(self) -> None:
        journal = self.rt.journal
        for job in journal.jobs(HOLDING_STEPS):
            if job.job_id in self.active:
                continue
            if time.monotonic() - self._last_start.get(job.job_id, -1e9) < RESUPERVISE_S:
                continue
            if job.step in (Step.CLAIMED, Step.RUNNING, Step.ABANDONING):
                self.rt.capacity.try_reserve(
                    job.job_id,
                    job.cpu or 0.0,
                    job.memory_mb or 0,
                    0,
                    force=True,
                    held_gpus=job.gpu_indexes,
                )
            self._start(job.job_id)

    def _dispatch_candidates(self) -> bool:
        free_threads = self.rt.settings.max_jobs + EXTRA_DECIDERS - len(self.active)
        if free_threads <= 0 or self.rt.capacity.free_slots() == 0:
            return False
        chain_now = self.rt.chain_now()
        chosen: list[int] = []
        while len(chosen) < free_threads:
            exclude = [*self.active, *chosen]
            batch = self.rt.journal.candidates(time.time(), CANDIDATE_BATCH, exclude=exclude)
            if not batch:
                break
            with self.rt.journal.transaction():  # one commit for a batch of declines
                for job in batch:
                    reasons = self.rt.policy.precheck(job, chain_now)
                    if reasons:
                        advance(
                            self.rt.journal, job.job_id, Step.DECLINED, reason="; ".join(reasons)
                        )
                    elif len(chosen) < free_threads:
                        chosen.append(job.job_id)
        for job_id in chosen:
            self._start(job_id)
        return bool(chosen)

    def _start(self, job_id: int) -> None:
        pipeline = JobPipeline(self.rt, job_id)
        thread = threading.Thread(target=pipeline.run, name=f"job-{job_id}", daemon=True)
        self.active[job_id] = thread
        self._last_start[job_id] = time.monotonic()
        thread.start()
        emit(log, "pipeline", logging.DEBUG, job=job_id)
