"""Copy a stopped job's ``/out`` to a host folder without ever following a link.

``/out`` is written by an untrusted job; read naively on the host, ``ln -s /etc/shadow
/out/x`` would hand the host's file to the publisher. Every step here works on file
descriptors relative to the parent directory, opened with ``O_NOFOLLOW``, and re-checked with
``fstat`` against the ``lstat`` that selected them. Only directories and single-link regular
files are read; symlinks, hardlinks, FIFOs, sockets and devices are recorded as refused and
never opened. Names are relative by construction (one directory entry at a time), so an
absolute or ``..`` name cannot occur.

Whatever is kept can be published: names and paths follow the project's rule book
(:mod:`jobmarket.names`, the same rules the result manifest's schema applies), so a name with
a backslash or a control character, not UTF-8, or a path over ``MAX_PATH_BYTES`` is refused
here, not discovered by the publisher after the claim. The byte, entry-count and depth caps,
and the manifest's budget for output records (:func:`jobmarket.spec.result.output_record_bytes`)
stop the collection at the first excess (status ``output_limit``); what was copied before is
kept and reported. Refusals are counted by kind; only the first ``MAX_REFUSED_LISTED`` are
kept one by one (more also means ``output_limit``), so no job can make its own manifest too
large to verify.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from jobmarket.names import MAX_PATH_DEPTH, name_problem, path_problem
from jobmarket.spec.result import MAX_OUTPUT_RECORDS_BYTES, MAX_REFUSED_LISTED, output_record_bytes
from jobmarket.terminal import printable
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

# Kinds of refusal: the keys of ``refused_by_kind`` (a fixed, small set).
SYMLINK = "symlink"
HARDLINK = "hardlink"
SPECIAL = "special file"
BAD_NAME = "name"
LONG_PATH = "path too long"
UNSTABLE = "changed while read"
OVER_CAP = "over a cap"
_FILE_TYPE_KINDS = {stat.S_IFLNK: SYMLINK}


@dataclass(frozen=True)
class OutputCaps:
    """How much of /out the node takes: bytes of regular files, entries, directory depth."""

    max_bytes: int
    max_files: int
    max_depth: int
    max_record_bytes: int = MAX_OUTPUT_RECORDS_BYTES  # what the outputs add to the manifest
    max_refused_listed: int = MAX_REFUSED_LISTED


@dataclass
class Collection:
    """What was copied, what was refused, and which cap (if any) stopped the copy."""

    files: list[OutputFile] = field(default_factory=list)
    refused: list[RefusedEntry] = field(default_factory=list)  # the first ones only
    refused_total: int = 0
    refused_by_kind: dict[str, int] = field(default_factory=dict)
    total_bytes: int = 0
    record_bytes: int = 0
    entries: int = 0
    limit: str | None = None  # the first cap that was exceeded


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

        self.max_depth = min(caps.max_depth, MAX_PATH_DEPTH)

    def refuse(self, path: str, reason: str, kind: str) -> None:
        collection = self.collection
        collection.refused_total += 1
        collection.refused_by_kind[kind] = collection.refused_by_kind.get(kind, 0) + 1
        if len(collection.refused) < self.caps.max_refused_listed:
            collection.refused.append(RefusedEntry(printable(path), reason, kind))
        elif collection.limit is None:
            listed = self.caps.max_refused_listed
            collection.limit = f"more than {listed} refused entries (the first {listed} listed)"

    def stop(self, path: str, limit: str) -> bool:
        self.collection.limit = self.collection.limit or limit
        self.refuse(path, f"not collected: {limit}", OVER_CAP)
        return False

    def walk(self, source_fd: int, destination_fd: int, prefix: str, depth: int) -> bool:
        """Copy one directory's entries; False once a cap has stopped the collection."""
        for name in sorted(os.listdir(source_fd)):
            path = prefix + name
            self.collection.entries += 1
            if self.collection.entries > self.caps.max_files:
                return self.stop(path, f"more than {self.caps.max_files} entries")
            if depth > self.max_depth:
                return self.stop(path, f"deeper than {self.max_depth} levels")
            problem = name_problem(name)
            if problem:
                self.refuse(path, f"name {problem}", BAD_NAME)
                continue
            problem = path_problem(path)
            if problem:
                self.refuse(path, f"path {problem}", LONG_PATH)
                continue
            entry = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
            kind = stat.S_IFMT(entry.st_mode)
            if kind == stat.S_IFDIR:
                if not self.walk_directory(source_fd, destination_fd, name, path, entry, depth):
                    return False
            elif kind == stat.S_IFREG:
                record = output_record_bytes(path)
                if entry.st_nlink > 1:
                    self.refuse(path, f"hard link ({entry.st_nlink} names for one file)", HARDLINK)
                elif self.collection.total_bytes + entry.st_size > self.caps.max_bytes:
                    return self.stop(path, f"more than {self.caps.max_bytes} bytes")
                elif self.collection.record_bytes + record > self.caps.max_record_bytes:
                    limit = f"more than {self.caps.max_record_bytes} bytes of output records"
                    return self.stop(path, limit)
                else:
                    self.copy_file(source_fd, destination_fd, name, path, entry)
                    self.collection.record_bytes += record
            else:
                reason = _KINDS.get(kind, f"unsupported file type {kind:o}")
                self.refuse(path, reason, _FILE_TYPE_KINDS.get(kind, SPECIAL))
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
                self.refuse(path, "changed while being read, or on another filesystem", UNSTABLE)
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
            self.refuse(path, f"could not be opened safely ({err.strerror})", UNSTABLE)
            return
        try:
            opened = os.fstat(source)
            if (
                not stat.S_ISREG(opened.st_mode)
                or not _same_file(opened, entry)
                or opened.st_nlink != 1
            ):
                self.refuse(path, "changed while being read", UNSTABLE)
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
