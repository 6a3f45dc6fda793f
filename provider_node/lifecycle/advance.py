"""Moving a job to its next step: the journal write and the one log line that goes with it."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any

from provider_node.context.logs import emit
from provider_node.journal.store import Journal
from provider_node.lifecycle.steps import Step

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
    """Journal ``step`` (and any other job columns), then log it with the time since seen.

    With ``only_from``, the step changes only if the job is still at one of those steps:
    the event stream may have moved it on meanwhile (a result accepted in the very block its
    submission was mined in), and a step never goes back. Returns whether it changed.
    """
    with journal.transaction():
        job = journal.job(job_id)
        if job is None or (only_from is not None and job.step not in only_from):
            return False
        journal.update_job(job_id, step=step, reason=reason, **columns)
    emit(
        log,
        "step",
        level,
        job=job_id,
        step=str(step),
        elapsed=round(time.time() - job.seen_at, 3),
        reason=reason or None,
        **(log_fields or {}),
    )
    return True


def log_seen(job_id: int, step: Step, reason: str = "", **fields: Any) -> None:
    """The log line of a job's first step (written by :meth:`Journal.record_posted`)."""
    emit(log, "step", job=job_id, step=str(step), elapsed=0.0, reason=reason or None, **fields)
