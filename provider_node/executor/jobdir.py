"""The host folder of one job: where its /out filesystem, logs, outputs and result live.

Layout (all owned by the node, mode 0700; the job only ever sees the mounted ``out/``)::

    <work_root>/<key>/
        lock            serialises start/collect/remove of this job across processes
        out.img         sparse ext4 image backing /out (size-capped)
        out/            mount point of out.img, bind-mounted into the container at /out
        timeout.json    written by the watchdog (or the supervisor) before it kills the job
        supervisor.lock held by the job's supervisor for as long as it runs
        supervisor.json the supervisor's pid, written once it is attached to the container
        supervisor.err  the supervisor's own error output
        logs/           stdout.log, stderr.log (each capped, the last bytes kept), capture.json
        outputs/        regular files copied out of /out after the job stopped
        result.json     the ExecutionResult, written last (the job is "collected")
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobmarket.fileio import locked, write_atomically


@dataclass(frozen=True)
class JobDir:
    """Paths of one job's folder; creating it is idempotent."""

    root: Path

    @property
    def lock_path(self) -> Path:
        return self.root / "lock"

    @property
    def volume_image(self) -> Path:
        return self.root / "out.img"

    @property
    def mountpoint(self) -> Path:
        return self.root / "out"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def supervisor_lock(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def supervisor_marker(self) -> Path:
        return self.root / "supervisor.json"

    @property
    def supervisor_errors(self) -> Path:
        return self.root / "supervisor.err"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def result_path(self) -> Path:
        return self.root / "result.json"

    @property
    def timeout_marker(self) -> Path:
        return self.root / "timeout.json"

    def create(self) -> JobDir:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock so two executors never start or collect the same job at once."""
        self.create()
        with locked(self.lock_path):
            yield

    def mark_timed_out(self, deadline: float) -> None:
        """Record the timeout before killing, so a crash right after still reports it."""
        record = {"deadline": deadline, "killed_at": time.time()}
        write_atomically(self.timeout_marker, json.dumps(record))

    def timeout_deadline(self) -> float | None:
        """The deadline the watchdog killed the job at, if it did."""
        try:
            return float(json.loads(self.timeout_marker.read_text())["deadline"])
        except (OSError, ValueError, KeyError):
            return None

    def purge(self) -> None:
        """Delete the whole folder (after the node has published or given up on the job)."""
        shutil.rmtree(self.root, ignore_errors=True)
