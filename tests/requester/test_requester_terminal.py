"""The live status line in a real pseudo-terminal of 80 columns (issue 13, item 3).

A line longer than the terminal wraps, and ``\\r\\x1b[2K`` clears only the row the cursor is on:
each redraw then leaves the wrapped part behind (a 6-second job left 83 lines on screen). The
``requester`` process here writes to a real pty whose window size is 80x24; every redrawn line
must fit in 79 columns (the last one stays free, so no terminal wraps it).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from requester_support import IMAGE

from requester.progress import SPINNER

REDRAW = "\r\x1b[2K"
COLUMNS = 80


def _run_in_pty(args: list[str], columns: int, seconds: float) -> str:
    """Run ``args`` with stdout and stderr on a new pty of ``columns``; what it wrote."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the process closed its end
                break
            if not data:
                break
            chunks.append(data)
        if process.poll() is not None and not ready:
            break
    process.kill()
    process.wait()
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def _redrawn_lines(output: str) -> list[str]:
    """The text of every redraw: a spinner frame after ``\\r\\x1b[2K``, up to the next control
    (a clear followed by a permanent line, such as the final one, is not a redraw)."""
    pieces = [re.split(r"[\r\n]", piece, maxsplit=1)[0] for piece in output.split(REDRAW)[1:]]
    return [piece for piece in pieces if piece[:1] in SPINNER]


def test_the_live_line_fits_an_80_column_terminal(post, provider):
    job_id = post(name="a-job-with-a-long-name", review_window="20s")
    requester = str(Path(sys.executable).with_name("requester"))
    output = _run_in_pty([requester, "wait", str(job_id), "--timeout", "3s"], COLUMNS, 20)

    redrawn = [line for line in _redrawn_lines(output) if line]
    assert len(redrawn) >= 5, output  # it did redraw (about 10 times a second)
    assert max(len(line) for line in redrawn) <= COLUMNS - 1, max(redrawn, key=len)
    assert any("waiting on any registered provider to claim it until" in s for s in redrawn)
    assert not re.search(r"\b1[0-9]{9}\b", output)  # no raw Unix times
    assert "submit_result" not in output and IMAGE not in output
