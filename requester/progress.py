"""Live progress for ``requester wait``/``watch`` and the ape scripts.

Each on-chain step is printed as a permanent line as it happens. On a terminal a status line
below them is redrawn in place after every poll: current state, elapsed time, who the job
waits on and the gas spent so far, cut to the terminal's width (``\r\x1b[2K`` clears one
screen row only: a longer line would wrap and leave a trail of copies). When the output is not
a terminal (a pipe, a log file, CI) the status is written as a plain line only when it changes
(not for every tick of the clock), without control characters, so logs stay readable. Every
line's text is escaped (:func:`jobmarket.terminal.printable`) before the redraw codes are added.
"""

from __future__ import annotations

import os
import time
from typing import TextIO

from jobmarket.chain.states import JobState
from jobmarket.terminal import printable
from requester.durations import format_duration
from requester.history import JobStep
from requester.render import amount, step_line
from requester.status import JobStatus

_CLEAR_LINE = "\r\x1b[2K"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_FALLBACK_COLUMNS = 80


def terminal_columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to (asked each time: it can be resized)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or _FALLBACK_COLUMNS
    except (AttributeError, OSError, ValueError):
        return _FALLBACK_COLUMNS


def fit(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` characters, an ellipsis marking the cut."""
    return text if len(text) <= columns else text[: max(0, columns - 1)] + "…"


class _LiveLine:
    """A status line under the printed steps, redrawn in place on a terminal only."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream = stream
        self.live = live
        self.started = time.monotonic()
        self._frame = 0
        self._shown = False
        self._last_plain: str | None = None

    @property
    def elapsed(self) -> str:
        return format_duration(time.monotonic() - self.started)

    def print(self, text: str) -> None:
        if self._shown:
            self.stream.write(_CLEAR_LINE)
            self._shown = False
        self.stream.write(printable(text) + "\n")
        self.stream.flush()

    def redraw(self, text: str, *, clock: str = "") -> None:
        """Show the status ``text`` (``clock``, e.g. the elapsed time, only on a terminal).

        One screen row at most: the last column stays free, so no terminal wraps the line.
        """
        if not self.live:
            if text != self._last_plain:
                self._last_plain = text
                self.print(text)
            return
        self._frame = (self._frame + 1) % len(SPINNER)
        # The clock first: the end of a long line is what the width cuts.
        shown = f"{SPINNER[self._frame]} {clock + ' · ' if clock else ''}{printable(text)}"
        self.stream.write(_CLEAR_LINE + fit(shown, terminal_columns(self.stream) - 1))
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
            self._shown = False


class JobProgress:
    """Progress of one job: pass :meth:`on_step` and :meth:`on_tick` to ``Job.wait``."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self.line = _LiveLine(stream, live)

    def on_step(self, step: JobStep, status: JobStatus) -> None:
        self.line.print(step_line(step, status.posted_at, status.me))

    def on_tick(self, status: JobStatus) -> None:
        costs = status.costs
        self.line.redraw(
            f"job {status.job_id} {status.state.name} · waiting on {status.waiting_on_short} · "
            f"your gas {amount(costs.gas)}",
            clock=self.line.elapsed,
        )

    def close(self) -> None:
        self.line.close()


class WatchProgress:
    """Progress of all of a requester's jobs (``requester watch``)."""

    def __init__(self, stream: TextIO, *, live: bool, me: str) -> None:
        self.line = _LiveLine(stream, live)
        self.me = me
        self.gas = 0

    def on_start(self, states: dict[int, JobState]) -> None:
        """Where each followed job stands before anything new happens."""
        for job, state in sorted(states.items()):
            self.line.print(f"job {job:>4} {state.name} now")

    def on_step(self, step: JobStep) -> None:
        if step.by(self.me):
            self.gas += step.tx.cost
        self.line.print(f"job {step.job_id:>4} {step_line(step, None, self.me).lstrip()}")

    def on_tick(self, states: dict[int, JobState]) -> None:
        active = sorted(job for job, state in states.items() if not state.is_terminal)
        shown = ", ".join(f"{job} {states[job].name}" for job in active[:8])
        more = f" (+{len(active) - 8} more)" if len(active) > 8 else ""
        self.line.redraw(
            f"{len(active)} active job(s){': ' + shown + more if active else ''} · "
            f"your gas {amount(self.gas)}",
            clock=self.line.elapsed,
        )

    def close(self) -> None:
        self.line.close()
