"""Crash-safe file primitives shared by every on-disk state: advisory locks and atomic writes.

A reader never sees half a file (write to a temporary in the same folder, fsync, rename), and
two processes never update the same state at once (``flock`` on a lock file next to it).
"""

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(lock_path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) ``flock`` on ``lock_path`` (created if missing)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def partial_sibling(target: Path) -> Path:
    """A temporary name beside ``target`` to write into and then rename over it.

    Short whatever ``target`` is called (a 255-byte name plus a suffix would exceed what a
    filesystem allows), unique to this process, and hidden; it keeps a little of the name so
    a leftover can be recognised.
    """
    return target.with_name(f".{target.name[:40]}.partial-{os.getpid()}")


def write_atomically(path: Path, content: bytes | str, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``content`` so that a crash leaves the old file or the new one."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
