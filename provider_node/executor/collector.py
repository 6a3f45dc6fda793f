"""Copy a stopped job's ``/out`` to a host folder without ever following a link.

``/out`` is written by an untrusted job; read naively on the host, ``ln -s /etc/shadow
/out/x`` would hand the host's file to the publisher. Every step here works on file
descriptors relative to the parent directory, opened with ``O_NOFOLLOW``, and re-checked with
``fstat`` against the ``lstat`` that selected them. Only directories and single-link regular
files are read; symlinks, hardlinks, FIFOs, sockets and devices are recorded as refused and
never opened. Names are relative by construction (one directory entry at a time), so an
absolute or ``..`` name cannot occur; names that are not UTF-8 or hold control characters are
refused. The byte, entry-count and depth caps stop the collection at the first excess (status
``output_limit``); what was copied before is kept and reported.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from provider_node.executor.result import OutputFile, RefusedEntry

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: should a FIFO ever be swapped in, opening it must not hang the node.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1024 * 1024
_KINDS = {
    stat.S_IFLNK: "symbolic link (not followed)",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


@dataclass(frozen=True)
class OutputCaps:
    """How much of /out the node takes: bytes of regular files, entries, directory depth."""

    max_bytes: int
    max_files: int
    max_depth: int


@dataclass
class Collection:
    """What was copied, what was refused, and which cap (if any) stopped the copy."""

    files: list[OutputFile] = field(default_factory=list)
    refused: list[RefusedEntry] = field(default_factory=list)
    total_bytes: int = 0
    entries: int = 0
    limit: str | None = None


def collect_outputs(source: Path, destination: Path, caps: OutputCaps) -> Collection:
    """Copy the tree at ``source`` into the new folder ``destination`` under ``caps``."""
    collection = Collection()
    source_fd = os.open(source, _DIR_FLAGS)
    try:
        os.mkdir(destination, 0o755)
        destination_fd = os.open(destination, _DIR_FLAGS)
        try:
            _Walker(caps, collection, os.fstat(source_fd).st_dev).walk(
                source_fd, destination_fd, "", 1
            )
        finally:
            os.close(destination_fd)
    finally:
        os.close(source_fd)
    return collection


class _Walker:
    def __init__(self, caps: OutputCaps, collection: Collection, device: int) -> None:
        self.caps = caps
        self.collection = collection
        self.device = device

    def refuse(self, path: str, reason: str) -> None:
        self.collection.refused.append(RefusedEntry(_printable(path), reason))

    def stop(self, path: str, limit: str) -> bool:
        self.collection.limit = limit
        self.refuse(path, f"not collected: {limit}")
        return False

    def walk(self, source_fd: int, destination_fd: int, prefix: str, depth: int) -> bool:
        """Copy one directory's entries; False once a cap has stopped the collection."""
        for name in sorted(os.listdir(source_fd)):
            path = prefix + name
            self.collection.entries += 1
            if self.collection.entries > self.caps.max_files:
                return self.stop(path, f"more than {self.caps.max_files} entries")
            if depth > self.caps.max_depth:
                return self.stop(path, f"deeper than {self.caps.max_depth} levels")
            problem = _name_problem(name)
            if problem:
                self.refuse(path, problem)
                continue
            entry = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
            kind = stat.S_IFMT(entry.st_mode)
            if kind == stat.S_IFDIR:
                if not self.walk_directory(source_fd, destination_fd, name, path, entry, depth):
                    return False
            elif kind == stat.S_IFREG:
                if entry.st_nlink > 1:
                    self.refuse(path, f"hard link ({entry.st_nlink} names for one file)")
                elif self.collection.total_bytes + entry.st_size > self.caps.max_bytes:
                    return self.stop(path, f"more than {self.caps.max_bytes} bytes")
                else:
                    self.copy_file(source_fd, destination_fd, name, path, entry)
            else:
                self.refuse(path, _KINDS.get(kind, f"unsupported file type {kind:o}"))
        return True

    def walk_directory(
        self,
        source_fd: int,
        destination_fd: int,
        name: str,
        path: str,
        entry: os.stat_result,
        depth: int,
    ) -> bool:
        child = os.open(name, _DIR_FLAGS, dir_fd=source_fd)
        try:
            opened = os.fstat(child)
            if not _same_file(opened, entry) or opened.st_dev != self.device:
                self.refuse(path, "changed while being read, or on another filesystem")
                return True
            os.mkdir(name, 0o755, dir_fd=destination_fd)
            destination_child = os.open(name, _DIR_FLAGS, dir_fd=destination_fd)
            try:
                return self.walk(child, destination_child, path + "/", depth + 1)
            finally:
                os.close(destination_child)
        finally:
            os.close(child)

    def copy_file(
        self, source_fd: int, destination_fd: int, name: str, path: str, entry: os.stat_result
    ) -> None:
        try:
            source = os.open(name, _FILE_FLAGS, dir_fd=source_fd)
        except OSError as err:  # e.g. ELOOP: it became a link after the lstat
            self.refuse(path, f"could not be opened safely ({err.strerror})")
            return
        try:
            opened = os.fstat(source)
            if (
                not stat.S_ISREG(opened.st_mode)
                or not _same_file(opened, entry)
                or opened.st_nlink != 1
            ):
                self.refuse(path, "changed while being read")
                return
            digest = hashlib.sha256()
            target = os.open(name, _NEW_FILE_FLAGS, 0o644, dir_fd=destination_fd)
            copied = 0
            try:
                while copied < entry.st_size:  # never more than the size the cap was checked at
                    chunk = os.read(source, min(_CHUNK, entry.st_size - copied))
                    if not chunk:
                        break
                    digest.update(chunk)
                    _write_all(target, chunk)
                    copied += len(chunk)
            finally:
                os.close(target)
        finally:
            os.close(source)
        self.collection.total_bytes += copied
        self.collection.files.append(OutputFile(path, copied, digest.hexdigest()))


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _name_problem(name: str) -> str | None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "name contains control characters"
    return None


def _printable(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")
