"""Importer behaviour beyond the vectors: constant memory, short reads, parameter bounds."""

from __future__ import annotations

import io
import os
import tracemalloc

import pytest

from jobmarket.content.importer import Importer, ImportParams
from jobmarket.errors import InvalidInput

MB = 1_000_000


class _Zeros(io.RawIOBase):
    """An endless-looking stream produced on the fly: nothing of it exists in memory."""

    def __init__(self, size: int, max_read: int | None = None) -> None:
        self.remaining = size
        self.max_read = max_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.remaining, self.max_read or len(buffer))
        buffer[:count] = bytes(count)
        self.remaining -= count
        return count


def test_memory_stays_constant_for_a_large_stream():
    tracemalloc.start()
    try:
        Importer().add_stream(_Zeros(80 * MB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MB, f"peak {peak} bytes for an 80 MB stream"


def test_short_reads_from_pipes_do_not_change_the_cid():
    whole = Importer(ImportParams(cid_version=0)).add_stream(_Zeros(3 * MB)).cid
    trickled = Importer(ImportParams(cid_version=0)).add_stream(_Zeros(3 * MB, 1000)).cid
    assert whole == trickled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cid_version": 2}, "--cid-version must be 0 or 1"),
        ({"chunk_size": 0}, "chunk size must be between 1 and 1048576"),
        ({"chunk_size": 1048577}, "chunk size must be between 1 and 1048576"),
        ({"max_links": 1}, "max links must be between 2 and 8192"),
    ],
)
def test_parameters_kubo_would_refuse_are_refused(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        ImportParams(**kwargs)


def test_fifo_inside_a_folder_is_refused_like_kubo(tmp_path):
    import os

    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "pipe")
    with pytest.raises(InvalidInput, match="unrecognized file type"):
        Importer().add_path(folder)


def test_symlinks_are_stored_as_links_not_followed(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "link").symlink_to("/etc/hostname")
    with_link = Importer().add_path(folder).cid
    (folder / "link").unlink()
    (folder / "link").symlink_to("/etc/hosts")
    assert Importer().add_path(folder).cid != with_link


def test_a_sink_may_keep_the_parts_it_was_given():
    """A store writes blocks after the importer moved on: what it kept must still be the block."""
    kept = []

    class Keeper:
        def put(self, cid, parts):
            kept.append((cid, parts))

    data = os.urandom(4 * 262144) + b"tail"  # four different full chunks and a short one
    for params in (ImportParams(cid_version=1), ImportParams(cid_version=0)):
        kept.clear()
        root = Importer(params, sink=Keeper()).add_bytes(data).cid
        assert root == Importer(params).add_bytes(data).cid
        assert len(kept) == 6  # five leaves and the root
        for cid, parts in kept:
            assert cid.verify(b"".join(bytes(part) for part in parts)), cid
