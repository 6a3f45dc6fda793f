"""What the node API says about one job: the journal's record of it, as a bounded JSON document.

Everything here is the node's own view (its journaled step, why it stands there, since when,
and the transactions it signed for the job); text a counterpart wrote (a decline reason can
quote a spec) stays a JSON string, escaped by the encoder.
"""

from __future__ import annotations

from typing import Any

from provider_node.journal.store import JobRecord, TxRecord
from provider_node.lifecycle.steps import HOLDING_STEPS, Step

#: The newest transactions listed per job (a job normally has two or three).
MAX_LISTED_TXS = 32
_REASON_CHARS = 2000


def _time(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def job_view(
    job: JobRecord,
    txs: list[TxRecord],
    *,
    steps: list[tuple[Step, float]],
    node: dict[str, Any],
    logs: bool,
) -> dict[str, Any]:
    """The JSON answer of ``GET /v1/jobs/{id}``; ``steps``: the journal's timeline of the
    job (when it reached each step); ``logs``: the job folder still holds logs."""
    return {
        "job_id": job.job_id,
        "step": str(job.step),
        "reason": job.reason[:_REASON_CHARS] or None,
        "waiting": str(job.waiting) or None,
        "seen_at": _time(job.seen_at),
        "since": _time(job.updated_at),
        "steps": [{"step": str(step), "at": _time(at)} for step, at in steps],
        "requester": job.requester,
        "posted_block": job.posted_block,
        "work_deadline": job.work_deadline,
        "review_deadline": job.review_deadline,
        "result_cid": job.result_cid,
        "result_status": job.status,
        "exit_code": job.exit_code,
        "disputed": job.disputed,
        "payout_wei": None if job.payout is None else str(job.payout),
        "holds_claim": job.step in HOLDING_STEPS,
        "logs_available": logs,
        "transactions": [
            {
                "function": tx.function,
                "status": tx.status,
                "hash": tx.hash,
                "block": tx.block_number,
                "gas_used": tx.gas_used,
                "signed_at": _time(tx.created_at),
                "updated_at": _time(tx.updated_at),
            }
            for tx in txs[-MAX_LISTED_TXS:]
        ],
        "node": node,
    }
