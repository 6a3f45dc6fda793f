"""The node API's log reader against the files a job's supervisor really writes
(:class:`~provider_node.executor.logs.TailFile`): lines as they come, bounded pieces of long
lines, characters split between writes, and a capped file cutting itself down under the
reader."""

from __future__ import annotations

import json
from pathlib import Path

from jobmarket.node_api import MAX_LINE_BYTES
from provider_node.api.logstream import LogTail
from provider_node.executor.logs import TailFile, write_capture


def _lines(records: list[dict], stream: str = "stdout") -> list[str]:
    return [r["line"] for r in records if r.get("stream") == stream and "line" in r]


def test_new_lines_are_read_as_they_are_written_and_the_capture_marks_the_end(
    tmp_path: Path,
) -> None:
    out, err = (
        TailFile(tmp_path / "stdout.log", 1 << 20),
        TailFile(tmp_path / "stderr.log", 1 << 20),
    )
    tail = LogTail(tmp_path)
    out.write(b"one\ntw")
    err.write(b"oops\n")
    first = list(tail.read())
    out.write(b"o\nthree")  # an unfinished last line waits for its end
    second = list(tail.read())
    assert not tail.finished
    figures = {"stdout": out.finish(), "stderr": err.finish()}
    write_capture(tmp_path, figures, complete=True)
    last = list(tail.read(final=True))

    assert _lines(first) == ["one"] and _lines(first, "stderr") == ["oops"]
    assert _lines(second) == ["two"]
    assert tail.finished and _lines(last) == ["three"]


def test_a_long_line_comes_in_bounded_pieces_and_split_characters_stay_whole(
    tmp_path: Path,
) -> None:
    out = TailFile(tmp_path / "stdout.log", 1 << 20)
    tail = LogTail(tmp_path)
    long = b"x" * (2 * MAX_LINE_BYTES + 10)
    out.write(long + b"\n" + "é".encode()[:1])  # half of a two-byte character
    pieces = list(tail.read())
    out.write("é".encode()[1:] + b" \x1b[2J\n")
    rest = list(tail.read())

    assert [len(p["line"]) for p in pieces] == [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]
    assert [p.get("partial", False) for p in pieces] == [True, True, False]
    assert "".join(p["line"] for p in pieces) == long.decode()
    assert _lines(rest) == ["é \x1b[2J"]
    assert "\\u001b[2J" in json.dumps(rest[0])  # on the wire it is an escape, not a control


def test_a_file_that_cut_itself_down_is_followed_from_its_new_end(tmp_path: Path) -> None:
    out = TailFile(tmp_path / "stdout.log", 64)  # keeps its last 64 bytes, at most 128
    tail = LogTail(tmp_path)
    out.write(b"a" * 60 + b"\n")
    assert _lines(list(tail.read())) == ["a" * 60]
    out.write(b"b" * 70 + b"\n")  # past 2 * cap: the file is cut to its last 64 bytes
    after_cut = list(tail.read())
    out.write(b"fresh\n")
    later = list(tail.read())

    assert {"stream": "stdout", "skipped": True} in after_cut
    assert _lines(later) == ["fresh"]


def test_a_snapshot_starts_at_a_whole_line_near_the_end(tmp_path: Path) -> None:
    out = TailFile(tmp_path / "stdout.log", 1 << 30)
    for number in range(40_000):
        out.write(f"line {number:08d}\n".encode())  # 14 bytes a line, 560,000 bytes
    lines = _lines(list(LogTail(tmp_path, snapshot=True).read(final=True)))

    assert lines[-1] == "line 00039999"
    assert all(line.startswith("line ") and len(line) == 13 for line in lines)
    assert 256 * 1024 // 14 - 1 <= len(lines) <= 256 * 1024 // 14


def test_a_cut_that_kept_what_was_read_last_loses_nothing_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    out = TailFile(tmp_path / "stdout.log", 64)
    tail = LogTail(tmp_path)
    first = [f"a{n:02d}" for n in range(25)]  # 100 bytes, read at once
    for line in first:
        out.write(f"{line}\n".encode())
    assert _lines(list(tail.read())) == first
    then = [f"b{n:02d}" for n in range(8)]  # 32 more: past 2 * cap, cut to the last 64 bytes
    for line in then:
        out.write(f"{line}\n".encode())
    after_cut = list(tail.read())

    assert (tmp_path / "stdout.log").stat().st_size == 64  # it was cut under the reader
    assert after_cut == [{"stream": "stdout", "line": line} for line in then]
