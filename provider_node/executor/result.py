"""What a run produced: the status, timings, logs, outputs and what was refused.

The result is written as ``result.json`` in the job folder when outputs are collected, so the
publisher (and a restarted node) can read it without Docker.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from jobmarket.fileio import write_atomically
from jobmarket.spec.result import AppliedLimits, GpuRecord, LogCapture
from provider_node.executor.spec import GpuAssignment, Limits


class ExecutionStatus(StrEnum):
    """How a run ended, most specific cause first (see ``decide_status``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the job's own non-zero exit
    TIMEOUT = "timeout"  # killed by the watchdog at its wall-clock deadline
    OOM = "oom"  # the kernel's OOM killer stopped it at its memory limit
    OUTPUT_LIMIT = "output_limit"  # /out held more bytes, files or depth than allowed
    ERROR = "error"  # the executor could not run or observe the job


def decide_status(
    *,
    exit_code: int | None,
    oom_killed: bool,
    timed_out: bool,
    output_limit: bool,
    error: str | None,
) -> ExecutionStatus:
    """One status from the run's facts; the cause that ended the run wins over its symptoms."""
    if error is not None:
        return ExecutionStatus.ERROR
    if timed_out:
        return ExecutionStatus.TIMEOUT
    if oom_killed and exit_code != 0:
        return ExecutionStatus.OOM
    if output_limit:
        return ExecutionStatus.OUTPUT_LIMIT
    return ExecutionStatus.SUCCEEDED if exit_code == 0 else ExecutionStatus.FAILED


@dataclass(frozen=True)
class OutputFile:
    """A regular file copied out of ``/out``; ``path`` is relative, with ``/`` separators."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RefusedEntry:
    """An entry of ``/out`` that was never read (link, device, FIFO, over a cap, bad name)."""

    path: str  # control characters escaped (jobmarket.terminal.printable)
    reason: str
    kind: str = "other"  # the collector's category, counted in the manifest


@dataclass(frozen=True)
class ExecutionResult:
    """Everything the node needs to publish or report one run."""

    key: str
    status: ExecutionStatus
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    runtime_s: float | None
    stdout_tail: str
    stderr_tail: str
    stdout_path: Path
    stderr_path: Path
    logs_truncated: bool  # either stream lost something
    output_dir: Path
    outputs: tuple[OutputFile, ...]
    output_bytes: int
    refused: tuple[RefusedEntry, ...]
    output_limit: str | None  # which cap was exceeded, if any
    limits: Limits
    image: str
    image_id: str
    container_id: str
    user: str = ""  # the uid:gid the job ran as
    error: str | None = None
    oom_killed: bool = False
    timed_out: bool = False
    # Per stream: bytes the job wrote that were not kept (the file holds the last ones), and
    # whether the capture ran the whole time (False: the supervisor was gone for a while).
    stdout_dropped_bytes: int = 0
    stderr_dropped_bytes: int = 0
    logs_complete: bool = True
    refused_total: int = 0  # every refusal; ``refused`` lists only the first ones
    refused_by_kind: dict[str, int] = field(default_factory=dict)
    gpus: tuple[GpuAssignment, ...] = ()  # the GPUs the container was given

    def log_capture(self, stream: str) -> LogCapture:
        """How completely ``stream`` (stdout or stderr) was kept, in the manifest's terms."""
        dropped = self.stdout_dropped_bytes if stream == "stdout" else self.stderr_dropped_bytes
        return LogCapture(
            truncated=dropped > 0 or not self.logs_complete,
            dropped_bytes=dropped,
            complete=self.logs_complete,
        )

    def gpu_records(self) -> list[GpuRecord]:
        """The GPUs the container was given, in the manifest's terms."""
        return [
            GpuRecord(index=gpu.index, model=gpu.model[:128] or None, uuid=gpu.uuid)
            for gpu in self.gpus
        ]

    def applied_limits(self) -> AppliedLimits:
        """The limits in the result manifest's terms (the profile always has a read-only root)."""
        return AppliedLimits(
            cpu=self.limits.cpu,
            memory_mb=self.limits.memory_mb,
            pids=self.limits.pids,
            timeout_s=max(1, math.ceil(self.limits.timeout_s)),
            network=self.limits.network.value,
            read_only_root=True,
            user=self.user,
            tmpfs_mb=self.limits.tmpfs_mb,
            max_output_bytes=self.limits.max_output_bytes,
            max_output_files=self.limits.max_output_files,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["limits"] = self.limits.to_dict()
        for name in ("stdout_path", "stderr_path", "output_dir"):
            data[name] = str(data[name])
        for name in ("started_at", "finished_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionResult:
        values = dict(data)
        values["status"] = ExecutionStatus(values["status"])
        values["limits"] = Limits.from_dict(values["limits"])
        for name in ("stdout_path", "stderr_path", "output_dir"):
            values[name] = Path(values[name])
        for name in ("started_at", "finished_at"):
            values[name] = datetime.fromisoformat(values[name]) if values[name] else None
        values["outputs"] = tuple(OutputFile(**item) for item in values["outputs"])
        values["refused"] = tuple(RefusedEntry(**item) for item in values["refused"])
        values["gpus"] = tuple(GpuAssignment.from_dict(item) for item in values.get("gpus", ()))
        return cls(**values)

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves either no result or a complete one."""
        write_atomically(path, json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> ExecutionResult:
        return cls.from_dict(json.loads(path.read_text()))
