"""The result manifest and the layout of a result directory.

A provider publishes each job's result as one UnixFS directory (CIDv1 dag-pb, ``bafybei…``)
and submits its root digest on-chain. Layout::

    manifest.json        this model, as sorted-key JSON
    outputs/…            every collected file from the job's /out, same relative paths
    logs/stdout.log      the job's standard output (its last bytes, up to the node's log cap)
    logs/stderr.log      the job's standard error (likewise, kept separately)

The manifest records, for every output file, its size, sha2-256 and UnixFS CID (CIDv1, raw
leaves — the CID ``ipfs add --cid-version 1`` gives the file alone), plus the limits the
executor applied and anything it refused to collect. Because the manifest sits inside the
directory, the single on-chain digest commits to all of it: a requester that fetched the
root by that digest and found every file matching the manifest holds exactly what the
provider submitted (see :mod:`jobmarket.spec.result_dir`).

**Size bound by construction.** A requester refuses a manifest over
:data:`MAX_MANIFEST_BYTES`, so an honest provider must never write one, whatever the job left
in ``/out``. Every part is bounded: the refused list keeps the first
:data:`MAX_REFUSED_LISTED` entries (``refused_total`` and ``refused_by_kind`` count all of
them), each refused path and reason is escaped and cut to :data:`MAX_REFUSED_PATH_CHARS` /
:data:`MAX_REASON_CHARS` characters, the log tails to :data:`TAIL_CHARS`, and the collector
stops taking outputs (status ``output_limit``) before their records would exceed
:data:`MAX_OUTPUT_RECORDS_BYTES` (:func:`output_record_bytes` is the cost of one). What is
left is at most :data:`MANIFEST_RESERVED_BYTES`, so the whole stays below the limit.

Fields added after version 1 was first published are optional with defaults, so older
manifests still read: ``output_limit`` (which cap stopped the collection), ``refused_total``
and ``refused_by_kind`` (all refusals, listed or not), and per log stream a
:class:`LogCapture` (``logs.stdout_capture`` / ``logs.stderr_capture``: truncated, bytes
dropped, whether the capture ran the whole time), and ``gpus`` (the devices the container was
given, when it asked for GPUs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from jobmarket.names import check_path
from jobmarket.spec.validation import (
    CidText,
    StrictModel,
    parse_document,
    read_document_file,
)
from jobmarket.terminal import printable

MANIFEST_NAME = "manifest.json"
OUTPUTS_DIR = "outputs"
LOGS_DIR = "logs"
STDOUT_NAME = "stdout.log"
STDERR_NAME = "stderr.log"
TAIL_CHARS = 4096
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_REFUSED_LISTED = 1000
"""Refused entries listed one by one; the rest are only counted."""
MAX_REFUSED_PATH_CHARS = 512
MAX_REASON_CHARS = 200
MAX_REFUSAL_KINDS = 32
MAX_OUTPUT_RECORDS_BYTES = 60 * 1024 * 1024
"""What the ``outputs`` list may add to ``manifest.json`` (the collector stops before)."""
MANIFEST_RESERVED_BYTES = MAX_MANIFEST_BYTES - MAX_OUTPUT_RECORDS_BYTES
"""Room for everything but the outputs: header, limits, logs and tails, refusals."""

Status = Literal["succeeded", "failed", "timeout", "oom", "output_limit", "error"]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class FileRecord(StrictModel):
    """One file of the result: where it is, how big, and two independent content hashes."""

    path: Annotated[str, AfterValidator(check_path)]  # the rule book's paths (jobmarket.names)
    size: int = Field(ge=0)
    sha256: Sha256Hex
    cid: CidText


class RefusedFile(StrictModel):
    """Something the job left in /out that the executor did not collect, and why."""

    path: str = Field(max_length=4096)
    reason: str = Field(max_length=300)

    @classmethod
    def bounded(cls, path: str, reason: str) -> RefusedFile:
        """A refusal as a provider writes it: escaped and cut to the bounded lengths."""
        return cls(
            path=bounded_text(path, MAX_REFUSED_PATH_CHARS),
            reason=bounded_text(reason, MAX_REASON_CHARS),
        )


def bounded_text(text: str, limit: int) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters (``…`` marks a cut).

    After escaping, each character takes at most 4 bytes in ``manifest.json``.
    """
    safe = printable(text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


class LogCapture(StrictModel):
    """How completely one output stream was kept (its file holds the last bytes the job wrote)."""

    truncated: bool = False
    dropped_bytes: int = Field(0, ge=0, description="bytes written by the job and not kept")
    complete: bool = Field(True, description="False: the capture stopped early, more was lost")


class AppliedLimits(StrictModel):
    """The container limits as actually applied (may be stricter than the spec asked)."""

    cpu: float = Field(gt=0)
    memory_mb: int = Field(gt=0)
    pids: int = Field(gt=0)
    timeout_s: int = Field(gt=0)
    network: Literal["none", "bridge"]
    read_only_root: bool
    user: str = Field(min_length=1, max_length=64)
    tmpfs_mb: int = Field(ge=0)
    max_output_bytes: int = Field(ge=0)
    max_output_files: int = Field(ge=0)


class GpuRecord(StrictModel):
    """A GPU the job's container was given (Docker device request by index)."""

    index: int = Field(ge=0, le=63)
    model: str | None = Field(None, max_length=128)
    uuid: str | None = Field(None, max_length=128)


class Logs(StrictModel):
    """Full logs (files under ``logs/``) and their tails for a quick look."""

    cid: CidText = Field(description="CID of the logs/ directory")
    stdout: FileRecord
    stderr: FileRecord
    stdout_tail: str = Field("", max_length=TAIL_CHARS)
    stderr_tail: str = Field("", max_length=TAIL_CHARS)
    stdout_capture: LogCapture | None = None
    stderr_capture: LogCapture | None = None


class ResultManifest(StrictModel):
    """What a provider ran, how it ended, and every file it delivered."""

    version: Literal[1] = 1
    job_id: int = Field(ge=0)
    spec_cid: CidText | None = None
    status: Status
    exit_code: int | None = None
    runtime_s: float = Field(ge=0)
    started_at: AwareDatetime
    finished_at: AwareDatetime
    image_id: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    limits: AppliedLimits
    outputs: list[FileRecord] = Field(default_factory=list)
    refused: list[RefusedFile] = Field(default_factory=list)
    refused_total: int | None = Field(None, ge=0, description="all refusals, listed or not")
    refused_by_kind: (
        dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0)]] | None
    ) = Field(None, max_length=MAX_REFUSAL_KINDS)
    output_limit: str | None = Field(None, max_length=MAX_REASON_CHARS)
    gpus: list[GpuRecord] | None = Field(
        None, max_length=64, description="the GPUs given to the container; absent: none"
    )
    logs: Logs

    def to_json(self) -> bytes:
        """Sorted keys, two-space indent, trailing newline: deterministic and readable."""
        document = self.model_dump(mode="json", exclude_none=True)
        return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def parse(cls, data: object, source: str = "result manifest") -> ResultManifest:
        return parse_document(cls, data, source, limit=MAX_MANIFEST_BYTES)

    @classmethod
    def from_file(cls, path: str | Path) -> ResultManifest:
        return read_document_file(cls, path, limit=MAX_MANIFEST_BYTES)


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@cache
def _record_overhead() -> int:
    """Bytes one output record adds to ``manifest.json`` besides its path, measured on the
    real serialization with the longest values the other fields can take."""
    cid = "bafybei" + "a" * 52  # CIDv1 sha2-256 in base32: 59 characters, the longest we make
    record = FileRecord.model_construct(path="", size=10**20, sha256="0" * 64, cid=cid)
    one = _manifest_bytes_with([record])
    two = _manifest_bytes_with([record, record])
    return two - one


def _manifest_bytes_with(outputs: list[FileRecord]) -> int:
    manifest = ResultManifest.model_construct(
        job_id=0,
        status="succeeded",
        runtime_s=0.0,
        started_at=_EPOCH,
        finished_at=_EPOCH,
        image_id="sha256:" + "0" * 64,
        limits=None,
        outputs=outputs,
        refused=[],
        logs=None,
    )
    return len(manifest.to_json())


def output_record_bytes(path: str) -> int:
    """An upper bound of what listing the output ``path`` adds to ``manifest.json``.

    A valid path (:mod:`jobmarket.names`) has no control character or backslash, so JSON
    escapes at most ``"``: two bytes per byte of UTF-8 at worst.
    """
    return _record_overhead() + 2 * len(path.encode("utf-8", "surrogateescape"))
