"""Start-up reconciliation: the journal, the chain and Docker must tell the same story.

Run once before the event loop starts, after any stop (clean or ``kill -9``):

1. every journaled transaction that was not known to be mined is confirmed by its hash, or
   broadcast again (the same signed bytes: it can only be mined once);
2. every container labelled with this node's id is matched to its job: the container of a job
   holding a claim (``claimed``, ``running``, ``abandoning``) is left to its pipeline, which waits
   for it if it ran (never starting it again), starts it if the crash came between creating
   and starting it, or removes it if the job was being abandoned; containers of jobs past
   ``running`` are removed; containers the journal does not know are removed and reported;
3. leftovers of finished jobs (staged inputs, half-built result folders) are deleted.

The scheduler then gives every job that holds a claim a pipeline, which resumes at its step.
"""

from __future__ import annotations

import logging
import shutil

from provider_node.context.logs import emit
from provider_node.context.runtime import Runtime
from provider_node.lifecycle.steps import HOLDING_STEPS, Step

log = logging.getLogger("provider_node")

_KEEP_FOLDERS_OF = (Step.SEEN, *HOLDING_STEPS)
# Steps whose pipeline decides what becomes of the job's container (see JobPipeline._start).
_ADOPT_CONTAINERS_OF = (Step.SEEN, Step.CLAIMING, Step.CLAIMED, Step.RUNNING, Step.ABANDONING)


def recover(rt: Runtime) -> dict[str, int]:
    """Reconcile; returns counts for the start-up log line."""
    pending = rt.txs.reconcile()
    adopted = removed = 0
    for container in rt.executor.find_job_containers():
        job_id = rt.identity.job_id_of(container.key)
        job = rt.journal.job(job_id) if job_id is not None else None
        if job is None:
            emit(
                log, "orphan-container", logging.WARNING, container=container.name, action="removed"
            )
            rt.executor.remove(container.key, purge=True)
            removed += 1
        elif job.step in _ADOPT_CONTAINERS_OF:
            adopted += 1
        else:
            rt.executor.remove(container.key, purge=True)
            removed += 1
    _remove_leftovers(rt)
    resumed = len(rt.journal.jobs(HOLDING_STEPS))
    return {
        "txs_pending": len(pending),
        "containers_adopted": adopted,
        "containers_removed": removed,
        "jobs_resumed": resumed,
    }


def _remove_leftovers(rt: Runtime) -> None:
    for parent in (rt.identity.staging_folder, rt.identity.results_folder):
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            name = folder.name.split(".", 1)[0]
            job = rt.journal.job(int(name)) if name.isdigit() else None
            if job is None or job.step not in _KEEP_FOLDERS_OF:
                shutil.rmtree(folder, ignore_errors=True)
