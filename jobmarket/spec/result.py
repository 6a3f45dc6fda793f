"""The result manifest and the layout of a result directory.

A provider publishes each job's result as one UnixFS directory (CIDv1 dag-pb, ``bafybei…``)
and submits its root digest on-chain. Layout::

    manifest.json        this model, as sorted-key JSON
    outputs/…            every collected file from the job's /out, same relative paths
    logs/stdout.log      the job's full standard output
    logs/stderr.log      the job's full standard error

The manifest records, for every output file, its size, sha2-256 and UnixFS CID (CIDv1, raw
leaves — the CID ``ipfs add --cid-version 1`` gives the file alone), plus the limits the
executor applied and anything it refused to collect. Because the manifest sits inside the
directory, the single on-chain digest commits to all of it: a requester that fetched the
root by that digest and found every file matching the manifest holds exactly what the
provider submitted (see :mod:`jobmarket.spec.result_dir`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from jobmarket.spec.validation import (
    CidText,
    RelativePath,
    StrictModel,
    parse_document,
    read_document_file,
)

MANIFEST_NAME = "manifest.json"
OUTPUTS_DIR = "outputs"
LOGS_DIR = "logs"
STDOUT_NAME = "stdout.log"
STDERR_NAME = "stderr.log"
TAIL_CHARS = 4096
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

Status = Literal["succeeded", "failed", "timeout", "oom", "output_limit", "error"]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class FileRecord(StrictModel):
    """One file of the result: where it is, how big, and two independent content hashes."""

    path: RelativePath
    size: int = Field(ge=0)
    sha256: Sha256Hex
    cid: CidText


class RefusedFile(StrictModel):
    """Something the job left in /out that the executor did not collect, and why."""

    path: str = Field(max_length=4096)
    reason: str = Field(max_length=300)


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


class Logs(StrictModel):
    """Full logs (files under ``logs/``) and their tails for a quick look."""

    cid: CidText = Field(description="CID of the logs/ directory")
    stdout: FileRecord
    stderr: FileRecord
    stdout_tail: str = Field("", max_length=TAIL_CHARS)
    stderr_tail: str = Field("", max_length=TAIL_CHARS)


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
