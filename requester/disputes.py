"""A dispute's reason and an arbiter's ruling, in the requester's words.

The contract's ``dispute(job_id)`` takes no reason and its ABI is not ours to change; the
reason is therefore a small document in the content store (like a spec), and its 32-byte digest
is appended to the ``dispute`` call's calldata after the ABI-encoded job id. The contract reads
only its argument and ignores the trailing word, so the transaction (found from the
``JobDisputed`` event) carries the digest for the arbiter; the document is verified against it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput, UserError
from jobmarket.spec.validation import Document

MAX_REASON_CHARS = 4000
#: ``dispute(uint256)``: a 4-byte selector and one 32-byte word; a reason's digest follows.
DISPUTE_CALLDATA_BYTES = 4 + 32
BPS = 10_000


class DisputeReason(Document):
    """Why the requester disputed a job's result (published to the store; digest in the tx)."""

    document_name: ClassVar[str] = "dispute reason"

    version: Literal[1] = 1
    job_id: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


def publish_dispute_reason(store: ContentStore, job_id: int, reason: str) -> bytes:
    """Store the reason; returns the 32 bytes to append to the ``dispute`` calldata."""
    text = reason.strip()
    if not text or len(text) > MAX_REASON_CHARS:
        raise InvalidInput(
            f"a dispute reason must have 1 to {MAX_REASON_CHARS} characters (got {len(text)})",
            "say briefly what is wrong with the result",
        )
    document = DisputeReason(job_id=job_id, reason=text)
    document.publish(store)
    return document.digest


def read_dispute_reason(store: ContentStore, job_id: int, calldata: bytes) -> str | None:
    """The reason whose digest trails ``calldata`` (None without one), verified by the store."""
    if len(calldata) != DISPUTE_CALLDATA_BYTES + 32:
        return None
    digest = calldata[DISPUTE_CALLDATA_BYTES:]
    try:
        document = DisputeReason.fetch(store, digest)
    except UserError as err:
        return f"(a reason was given but cannot be read: {err.problem})"
    if document.job_id != job_id:
        return f"(the reason given names job {document.job_id}, not this one)"
    return document.reason


def parse_share(text: str | int) -> int:
    """The provider's share in basis points: ``70%``, ``100%``, ``0`` or ``7000``."""
    raw = str(text).strip()
    try:
        bps = round(float(raw[:-1]) * 100) if raw.endswith("%") else int(raw)
    except ValueError:
        bps = -1
    if not 0 <= bps <= BPS:
        raise InvalidInput(
            f"cannot read the provider's share {raw!r}",
            "give a percentage (70%) or basis points from 0 to 10000",
        )
    return bps
