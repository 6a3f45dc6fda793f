"""The output collector against trees built on the host: it must never read through a link.

These trees are what a hostile job can leave in /out; here the links point at real host files,
so following one would leak them.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import uuid
from pathlib import Path

import pytest

from jobmarket.names import MAX_NAME_BYTES, MAX_PATH_BYTES
from jobmarket.spec.result import FileRecord
from provider_node.executor.collector import OutputCaps, collect_outputs

ANY_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
ROOMY = OutputCaps(max_bytes=1 << 20, max_files=100, max_depth=8)


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    secret = f"SECRET-{uuid.uuid4().hex}"
    path = tmp_path / "host-secret.txt"
    path.write_text(secret)
    return path, secret


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_regular_files_and_folders_are_copied_with_digests(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "a.txt").write_text("alpha\n")
    (out / "sub" / "deeper" / "b.bin").write_bytes(bytes(range(256)) * 10)

    collection = collect_outputs(out, tmp_path / "collected", ROOMY)

    assert collection.limit is None and collection.refused == []
    assert [(f.path, f.size) for f in collection.files] == [
        ("a.txt", 6),
        ("sub/deeper/b.bin", 2560),
    ]
    copied = tmp_path / "collected" / "sub" / "deeper" / "b.bin"
    assert copied.read_bytes() == bytes(range(256)) * 10
    assert collection.files[1].sha256 == hashlib.sha256(copied.read_bytes()).hexdigest()
    assert collection.total_bytes == 2566


def test_symlinks_to_host_files_are_refused_and_never_read(
    tmp_path: Path, secret_file: tuple[Path, str]
) -> None:
    secret_path, secret = secret_file
    out = tmp_path / "out"
    (out / "dir").mkdir(parents=True)
    (out / "leak").symlink_to(secret_path)
    (out / "shadow").symlink_to("/etc/shadow")
    (out / "hostdir").symlink_to(secret_path.parent)  # a linked folder is not entered either
    (out / "dir" / "up").symlink_to("../../host-secret.txt")
    (out / "fine.txt").write_text("fine\n")

    collection = collect_outputs(out, tmp_path / "collected", ROOMY)

    refused = {entry.path: entry.reason for entry in collection.refused}
    assert set(refused) == {"leak", "shadow", "hostdir", "dir/up"}
    assert all("symbolic link" in reason for reason in refused.values())
    assert [f.path for f in collection.files] == ["fine.txt"]
    assert secret.encode() not in all_bytes(tmp_path / "collected")
    assert not any(p.is_symlink() for p in (tmp_path / "collected").rglob("*"))


def test_hardlinks_are_refused(tmp_path: Path, secret_file: tuple[Path, str]) -> None:
    secret_path, secret = secret_file
    out = tmp_path / "out"
    out.mkdir()
    os.link(secret_path, out / "linked-secret")  # same filesystem here, unlike a real /out

    collection = collect_outputs(out, tmp_path / "collected", ROOMY)

    assert [e.path for e in collection.refused] == ["linked-secret"]
    assert "hard link" in collection.refused[0].reason
    assert secret.encode() not in all_bytes(tmp_path / "collected")


def test_fifos_sockets_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "pipe")  # opening it for reading would block forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(out / "sock"))
    os.mknod(out / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))

    collection = collect_outputs(out, tmp_path / "collected", ROOMY)
    server.close()

    assert {e.path: e.reason for e in collection.refused} == {
        "null": "character device",
        "pipe": "FIFO",
        "sock": "socket",
    }
    assert collection.files == []


def test_byte_cap_stops_collection_and_keeps_what_came_before(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "1-small").write_bytes(b"x" * 100)
    (out / "2-big").write_bytes(b"y" * 5000)
    (out / "3-later").write_bytes(b"z")

    collection = collect_outputs(out, tmp_path / "collected", OutputCaps(1000, 100, 8))

    assert collection.limit == "more than 1000 bytes"
    assert [f.path for f in collection.files] == ["1-small"]
    assert collection.refused[-1].path == "2-big"
    assert not (tmp_path / "collected" / "2-big").exists()


def test_entry_cap_and_depth_cap(tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for index in range(30):
        (many / f"f{index:02d}").write_text(str(index))
    by_count = collect_outputs(many, tmp_path / "c1", OutputCaps(1 << 20, 10, 8))
    assert by_count.limit == "more than 10 entries"
    assert len(by_count.files) == 10

    deep = tmp_path / "deep"
    level = deep
    for _ in range(12):
        level = level / "d"
        level.mkdir(parents=True)
    (deep / "a-top.txt").write_text("top")
    by_depth = collect_outputs(deep, tmp_path / "c2", OutputCaps(1 << 20, 100, 5))
    assert by_depth.limit == "deeper than 5 levels"
    assert [f.path for f in by_depth.files] == ["a-top.txt"]


def test_names_the_manifest_would_refuse_are_refused_at_collection(tmp_path: Path) -> None:
    # The rule book (jobmarket.names) is applied here, so whatever is kept is publishable.
    out = tmp_path / "out"
    out.mkdir()
    (out / "line\nbreak").write_text("x")
    (out / "a\\b").write_text("x")  # a backslash: FileRecord refused it after the claim
    (out / "esc\x1b[2J").write_text("x")
    with open(os.path.join(os.fsencode(out), b"latin1-\xe9"), "w") as stream:
        stream.write("x")
    (out / "ok-\u00e9t\u00e9").write_text("x")
    longest = "\u00e9" * (MAX_NAME_BYTES // 2)  # 254 bytes of UTF-8: allowed
    (out / longest).write_text("x")

    collection = collect_outputs(out, tmp_path / "collected", ROOMY)

    assert sorted(f.path for f in collection.files) == sorted(["ok-\u00e9t\u00e9", longest])
    reasons = {e.path: e.reason for e in collection.refused}
    assert reasons == {
        "a\\b": "name must not contain a backslash",
        "esc\\e[2J": "name must not contain control characters (NUL, newline, escape, …)",
        "latin1-\\xe9": "name is not valid UTF-8",
        "line\\nbreak": "name must not contain control characters (NUL, newline, escape, …)",
    }  # refused paths are escaped: nothing raw reaches a terminal or the manifest
    assert collection.refused_by_kind == {"name": 4} and collection.limit is None
    for kept in collection.files:  # the manifest's schema accepts every kept path
        FileRecord(path=kept.path, size=kept.size, sha256=kept.sha256, cid=ANY_CID)


def test_paths_over_the_limit_are_refused_and_the_rest_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    deep = out
    for level in range(5):  # 5 * 251 bytes: over MAX_PATH_BYTES (1024) at the 5th level
        deep = deep / (f"{level}" * 250)
        deep.mkdir(parents=True)
    (deep / "f").write_text("lost")
    (deep.parent / "kept").write_text("kept")

    collection = collect_outputs(out, tmp_path / "collected", OutputCaps(1 << 20, 100, 16))

    [kept] = collection.files
    assert kept.path.endswith("/kept") and len(kept.path.encode()) <= MAX_PATH_BYTES
    [refused] = collection.refused
    assert refused.kind == "path too long" and refused.reason.startswith("path is 1254 bytes")
    assert collection.limit is None


def test_refusals_are_all_counted_but_only_the_first_listed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for index in range(30):
        (out / f"link{index:02d}").symlink_to("/etc/passwd")
    (out / "z-data").write_text("kept")
    caps = OutputCaps(1 << 20, 100, 8, max_refused_listed=10)

    collection = collect_outputs(out, tmp_path / "collected", caps)

    assert [f.path for f in collection.files] == ["z-data"]  # collection went on
    assert [e.path for e in collection.refused] == [f"link{i:02d}" for i in range(10)]
    assert collection.refused_total == 30 and collection.refused_by_kind == {"symlink": 30}
    assert collection.limit == "more than 10 refused entries (the first 10 listed)"


def test_the_manifest_budget_for_output_records_stops_collection(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for index in range(20):
        (out / f"{index:02d}-{'n' * 200}").write_text("x")
    caps = OutputCaps(1 << 20, 100, 8, max_record_bytes=5 * 700)  # room for 5 such records

    collection = collect_outputs(out, tmp_path / "collected", caps)

    assert len(collection.files) == 5 and collection.record_bytes <= 5 * 700
    assert collection.limit == "more than 3500 bytes of output records"
    assert collection.refused[-1].kind == "over a cap"
