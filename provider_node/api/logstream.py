"""A running job's stdout and stderr, read while its supervisor writes them, as JSON lines.

The supervisor (:mod:`provider_node.executor.supervisor`) appends each stream to its own
:class:`~provider_node.executor.logs.TailFile` in the job folder's ``logs/`` and writes
``capture.json`` once the container's streams are drained. A :class:`LogTail` follows both
files from where it last read: new bytes are split into lines (a line longer than
:data:`~jobmarket.node_api.MAX_LINE_BYTES` comes in pieces), decoded as UTF-8 with
replacement, and handed out as records ``{"stream": "stdout", "line": "…"}``. Memory is
bounded: at most one read chunk and one unfinished line per stream. Each file is held open
once it exists, so the job's last lines are read even when the node delivers the result and
purges the job folder between two looks.

A TailFile keeps only its last bytes: when it cuts itself down (the job flooded its output)
it rewrites itself in place under the reader. The reader notices (the file is shorter than
where it stood, or the last bytes it read are no longer where it read them) and looks for
those bytes in the rewritten file: found, it goes on right after them (nothing lost, nothing
twice); gone, the bytes between were dropped by the cap, and it says so with
``{"stream": …, "skipped": true}`` and goes on from the first whole line the file kept. (A
flood of identical lines makes "where" ambiguous: some of those identical lines may then be
skipped without the mark.)
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobmarket.node_api import MAX_LINE_BYTES
from provider_node.executor.logs import CAPTURE_NAME, STREAMS

_READ_CHUNK = 64 * 1024
#: Without ``follow``, at most this many of each stream's last bytes are sent.
SNAPSHOT_BYTES = 256 * 1024
_FINGERPRINT = 32


class _StreamTail:
    def __init__(self, path: Path, stream: str, start_from_end_minus: int | None) -> None:
        self.path = path
        self.stream = stream
        self.offset = 0
        self.pending = b""
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._start_back = start_from_end_minus
        self._drop_first = False  # a snapshot starting mid-line drops that line's head
        self._seen = b""  # the last bytes read, ending at ``offset``: a rewrite moves them
        # Held open once the file exists: when the node purges the job folder right after
        # delivering (it can within one poll), what the job wrote last is still read.
        self.fd: int | None = None

    def read(self, final: bool) -> Iterator[dict[str, Any]]:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                return  # not written yet (the container has not started), or gone
        fd = self.fd
        size = os.fstat(fd).st_size
        if self._start_back is not None:  # a snapshot: only the last bytes
            self.offset = max(0, size - self._start_back)
            self._drop_first, self._start_back = self.offset > 0, None
        if self._rewritten(fd, size):  # the TailFile cut itself down under us
            resume = self._find_seen(fd, size)
            if resume is not None:  # what we read last is still there: go on right after it
                self.offset = resume
            else:  # the bytes between are lost: read the kept window from its first line
                self.offset, self.pending, self._seen = 0, b"", b""
                self._drop_first = True
                self.decoder.reset()
                yield {"stream": self.stream, "skipped": True}
        while self.offset < size:
            data = os.pread(fd, min(_READ_CHUNK, size - self.offset), self.offset)
            if not data:
                break
            self.offset += len(data)
            self._seen = (self._seen + data)[-_FINGERPRINT:]
            yield from self._lines(data)
        if final and self.pending:
            yield self._record(self.pending, partial=False, final=True)
            self.pending = b""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _rewritten(self, fd: int, size: int) -> bool:
        if size < self.offset:
            return True
        if not self._seen:
            return False
        return os.pread(fd, len(self._seen), self.offset - len(self._seen)) != self._seen

    def _find_seen(self, fd: int, size: int) -> int | None:
        """Where the last bytes read now end in the rewritten file (their last occurrence),
        or None when they are gone; read in bounded chunks."""
        needle = self._seen
        if not needle:
            return None
        found, start, tail = None, 0, b""
        while start < size:
            chunk = tail + os.pread(fd, min(_READ_CHUNK, size - start), start)
            base = start - len(tail)
            at = chunk.rfind(needle)
            if at >= 0:
                found = base + at + len(needle)
            start = base + len(chunk)
            tail = chunk[-(len(needle) - 1) :] if len(needle) > 1 else b""
        return found

    def _lines(self, data: bytes) -> Iterator[dict[str, Any]]:
        buffer = self.pending + data
        if self._drop_first:
            cut = buffer.find(b"\n")
            if cut < 0:
                self.pending = b""
                return
            buffer, self._drop_first = buffer[cut + 1 :], False
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line, buffer = buffer[:cut], buffer[cut + 1 :]
            while len(line) > MAX_LINE_BYTES:
                yield self._record(line[:MAX_LINE_BYTES], partial=True)
                line = line[MAX_LINE_BYTES:]
            yield self._record(line, partial=False)
        while len(buffer) > MAX_LINE_BYTES:
            yield self._record(buffer[:MAX_LINE_BYTES], partial=True)
            buffer = buffer[MAX_LINE_BYTES:]
        self.pending = buffer

    def _record(self, raw: bytes, *, partial: bool, final: bool = False) -> dict[str, Any]:
        text = self.decoder.decode(raw, final=final or not partial)
        record: dict[str, Any] = {"stream": self.stream, "line": text}
        if partial:
            record["partial"] = True
        return record


class LogTail:
    """Both streams of one job's ``logs/`` folder, read incrementally.

    ``snapshot`` starts each stream at its last :data:`SNAPSHOT_BYTES` (a one-off read);
    otherwise from the start of what the files still hold.
    """

    def __init__(self, folder: Path, *, snapshot: bool = False) -> None:
        self.folder = folder
        back = SNAPSHOT_BYTES if snapshot else None
        self.streams = [_StreamTail(folder / f"{name}.log", name, back) for name in STREAMS]

    @property
    def finished(self) -> bool:
        """The supervisor wrote ``capture.json``: the files are final."""
        return (self.folder / CAPTURE_NAME).exists()

    @property
    def opened(self) -> bool:
        """A stream's file was found (the job's container was started)."""
        return any(stream.fd is not None for stream in self.streams)

    def read(self, *, final: bool = False) -> Iterator[dict[str, Any]]:
        """The records written since the last read; ``final`` flushes unfinished lines."""
        for stream in self.streams:
            yield from stream.read(final)

    def close(self) -> None:
        for stream in self.streams:
            stream.close()

    def __enter__(self) -> LogTail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
