"""Save a stopped container's stdout and stderr to capped files, and keep their tails.

Docker's json-file driver already bounds what it stores (``max-size`` times ``max-file``, see the
profile) by dropping the oldest lines; here each stream keeps at most ``cap`` bytes, the most
recent ones, since the end of a log is where a failure explains itself. The tails go into the
result for the manifest. ``truncated`` says that something was dropped, by Docker or by us.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docker.models.containers import Container

from jobmarket.fileio import write_atomically

TAIL_BYTES = 4096


@dataclass(frozen=True)
class SavedLogs:
    stdout_path: Path
    stderr_path: Path
    stdout_tail: str
    stderr_tail: str
    truncated: bool


class _LastBytes:
    """The last ``cap`` bytes of a stream, in bounded memory."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buffer = bytearray()
        self.seen = 0

    def add(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        self.buffer += chunk
        if len(self.buffer) > 2 * self.cap:
            del self.buffer[: len(self.buffer) - self.cap]

    def value(self) -> bytes:
        return bytes(self.buffer[-self.cap :])


def save_logs(container: Container, folder: Path, cap: int) -> SavedLogs:
    """Write ``stdout.log`` and ``stderr.log`` into ``folder`` (replacing earlier copies)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept: dict[str, bytes] = {}
    truncated = _rotated_by_docker(container)
    for stream in ("stdout", "stderr"):
        last = _LastBytes(cap)
        for chunk in container.logs(
            stdout=stream == "stdout", stderr=stream == "stderr", stream=True, follow=False
        ):
            last.add(chunk)
        kept[stream] = last.value()
        truncated = truncated or last.seen > cap
        write_atomically(folder / f"{stream}.log", kept[stream], fsync=False)
    return SavedLogs(
        stdout_path=folder / "stdout.log",
        stderr_path=folder / "stderr.log",
        stdout_tail=tail_text(kept["stdout"]),
        stderr_tail=tail_text(kept["stderr"]),
        truncated=truncated,
    )


def _rotated_by_docker(container: Container) -> bool:
    """json-file rotates to ``<LogPath>.1`` once it reached max-size (visible on a local engine)."""
    log_path = container.attrs.get("LogPath") or ""
    return bool(log_path) and Path(f"{log_path}.1").exists()


def tail_text(data: bytes, size: int = TAIL_BYTES) -> str:
    return data[-size:].decode("utf-8", "replace")
