"""A job's stdout and stderr: two separate streams, each capped, each keeping its last bytes.

Docker's json-file driver keeps both streams in one rotating file set, so when both flood one
stream's tail can vanish (seen: all of stdout, even a line printed after the flood, with no
mark of the loss). Jobs therefore run with the ``none`` log driver and their supervisor
(:mod:`provider_node.executor.supervisor`) attaches to the two streams before the container
starts and writes each into its own :class:`TailFile`: at most ``2 * cap`` bytes on disk at
any moment, the last ``cap`` bytes kept at the end, since the end of a log is where a failure
explains itself. Once the streams are drained the supervisor writes ``capture.json`` with
what each stream wrote and dropped; :func:`read_logs` turns that into the result's figures.
Without it (the supervisor died, or never ran) the files hold what was captured and the
capture is marked incomplete: some output may be missing, and the manifest says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from jobmarket.fileio import write_atomically

TAIL_BYTES = 4096
STREAMS = ("stdout", "stderr")
CAPTURE_NAME = "capture.json"


@dataclass(frozen=True)
class StreamLog:
    """One stream as kept: its file, its tail, and what was lost."""

    path: Path
    tail: str
    dropped_bytes: int  # written by the job and not kept (a lower bound if not complete)
    complete: bool  # the capture ran from the start to the end of the job

    @property
    def truncated(self) -> bool:
        return self.dropped_bytes > 0 or not self.complete


@dataclass(frozen=True)
class SavedLogs:
    stdout: StreamLog
    stderr: StreamLog

    @property
    def truncated(self) -> bool:
        return self.stdout.truncated or self.stderr.truncated


class TailFile:
    """Appends a stream to ``path``, never holding more than ``2 * cap`` bytes there.

    ``keep`` continues an earlier capture (a supervisor resuming a job) instead of starting
    an empty file.
    """

    def __init__(self, path: Path, cap: int, *, keep: bool = False) -> None:
        self.path = path
        self.cap = cap
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        self._fd = os.open(path, flags if keep else flags | os.O_TRUNC, 0o600)
        self.size = os.fstat(self._fd).st_size  # bytes in the file now (the last ones written)
        self.written = self.size  # bytes the job wrote to this stream (as far as we know)

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if len(data) >= self.cap:  # this chunk alone replaces everything kept so far
            self._replace(data[-self.cap :])
            return
        _pwrite_all(self._fd, data, self.size)
        self.size += len(data)
        if self.size > 2 * self.cap:
            self._keep_last()

    def finish(self) -> dict[str, int]:
        """Keep the last ``cap`` bytes; the figures for ``capture.json``.

        No fsync: the logs must survive the node's crash (a process's death), which the page
        cache does; after a power loss the job is collected from whatever reached the disk.
        """
        if self.size > self.cap:
            self._keep_last()
        os.close(self._fd)
        return {"written": self.written, "kept": self.size, "dropped": self.written - self.size}

    def _keep_last(self) -> None:
        self._replace(os.pread(self._fd, self.cap, self.size - self.cap))

    def _replace(self, data: bytes) -> None:
        _pwrite_all(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))
        self.size = len(data)


def write_capture(folder: Path, figures: dict[str, dict[str, int]], complete: bool) -> None:
    """Record each stream's figures (written last: its presence means the files are final)."""
    document = json.dumps({**figures, "complete": complete})
    write_atomically(folder / CAPTURE_NAME, document, fsync=False)


def read_logs(folder: Path, cap: int) -> SavedLogs:
    """The job's two logs as its supervisor left them, each at most ``cap`` bytes."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    capture = _read_capture(folder / CAPTURE_NAME)
    kept = {}
    for stream in STREAMS:
        path = folder / f"{stream}.log"
        figures = capture.get(stream) if capture else None
        dropped = _trim(path, cap)  # a supervisor that died mid-run may have left 2 * cap
        if isinstance(figures, dict) and isinstance(figures.get("dropped"), int):
            dropped = max(dropped, figures["dropped"])
            complete = capture.get("complete") is True
        else:
            complete = False
        kept[stream] = StreamLog(path, tail_text(_last_bytes(path)), dropped, complete)
    return SavedLogs(stdout=kept["stdout"], stderr=kept["stderr"])


def tail_text(data: bytes, size: int = TAIL_BYTES) -> str:
    return data[-size:].decode("utf-8", "replace")


def _read_capture(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _trim(path: Path, cap: int) -> int:
    """Create ``path`` if missing, cut it to its last ``cap`` bytes; the bytes cut."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size <= cap:
            return 0
        _pwrite_all(fd, os.pread(fd, cap, size - cap), 0)
        os.ftruncate(fd, cap)
        return size - cap
    finally:
        os.close(fd)


def _last_bytes(path: Path, size: int = TAIL_BYTES) -> bytes:
    with open(path, "rb") as stream:
        stream.seek(max(0, path.stat().st_size - size))
        return stream.read()


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
