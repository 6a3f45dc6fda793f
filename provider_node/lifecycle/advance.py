"""Moving a job: the only writer of a job's step, and of why a job at ``seen`` waits.

Pipeline, event handling, settler, scheduler and reorg reconciliation all ask :func:`advance`
to move a job; it checks the move against :data:`~provider_node.lifecycle.steps.TRANSITIONS`
inside a journal transaction and refuses (one ``illegal-move`` error line) any move the table
lacks. Its log line (and its metrics, :func:`provider_node.metrics.job_moved`) is written
once the journal has committed the step, never for a write that was rolled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any

from provider_node import metrics
from provider_node.context.logs import emit
from provider_node.journal.store import Journal
from provider_node.lifecycle.steps import Step, Waiting, allowed

log = logging.getLogger("provider_node")


def advance(
    journal: Journal,
    job_id: int,
    step: Step,
    *,
    reason: str = "",
    only_from: Collection[Step] | None = None,
    log_fields: dict[str, Any] | None = None,
    level: int = logging.INFO,
    **columns: Any,
) -> bool:
    """Move job ``job_id`` to ``step`` (with any other job columns); True if it moved.

    ``only_from`` says where the caller expects the job to be: the event stream may have moved
    it on meanwhile (a result accepted in the very block its submission was mined in), and
    then nothing changes, quietly. A job already at ``step`` stays as it is. A move the
    transition table lacks is refused and logged as an error: it is a bug, not a race.
    """
    with journal.transaction():
        job = journal.job(job_id)
        if job is None or job.step == step:
            return False
        if only_from is not None and job.step not in only_from:
            return False
        if not allowed(job.step, step):
            emit(
                log,
                "illegal-move",
                logging.ERROR,
                job=job_id,
                step=str(job.step),
                to=str(step),
                reason=reason or None,
            )
            return False
        journal.write_step(job_id, step, reason=reason, waiting=Waiting.NOT, **columns)
        seen_at = job.seen_at if step != Step.SEEN else columns.get("seen_at", job.seen_at)
        journal.after_commit(
            lambda: emit(
                log,
                "step",
                level,
                job=job_id,
                step=str(step),
                elapsed=round(time.time() - seen_at, 3),
                reason=reason or None,
                **(log_fields or {}),
            )
        )
        journal.after_commit(lambda: metrics.job_moved(job, step, columns, log_fields or {}))
    return True


def defer(journal: Journal, job_id: int, waiting: Waiting, reason: str, seconds: float) -> bool:
    """A job at ``seen`` that the node cannot take now waits ``seconds`` (or until room of the
    kind ``waiting`` names frees up). True if this is a new reason (worth one log line)."""
    with journal.transaction():
        job = journal.job(job_id)
        if job is None or job.step != Step.SEEN:
            return False
        journal.update_job(job_id, not_before=time.time() + seconds, reason=reason, waiting=waiting)
    return reason != job.reason or waiting != job.waiting


def log_seen(journal: Journal, job_id: int, reason: str = "", **fields: Any) -> None:
    """The log line of a job's entry at ``seen``, once the journal holds it."""
    journal.after_commit(
        lambda: emit(
            log,
            "step",
            job=job_id,
            step=str(Step.SEEN),
            elapsed=0.0,
            reason=reason or None,
            **fields,
        )
    )
