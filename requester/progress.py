"""Live progress for ``requester wait``/``watch`` and the ape scripts.

Each on-chain step is printed as a permanent line as it happens. On a terminal a status line
below them is redrawn after every poll: current state, elapsed time, who the job waits on
and the gas spent so far. When the output is not a terminal (a pipe, a log file, CI) only the
step lines are written, plain and without control characters, so logs stay readable. Every
line's text is escaped (:func:`jobmarket.terminal.printable`) before the redraw codes are added.
"""

from __future__ import annotations

import time
from typing import TextIO

from jobmarket.chain.states import JobState
from jobmarket.terminal import printable
from requester.durations import format_duration
from requester.history import JobStep
from requester.render import amount, step_line
from requester.status import JobStatus

_CLEAR_LINE = "\r\x1b[2K"
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class _LiveLine:
    """A status line under the printed steps, redrawn in place on a terminal only."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream = stream
        self.live = live
        self.started = time.monotonic()
        self._frame = 0
        self._shown = False

    @property
    def elapsed(self) -> str:
        return format_duration(time.monotonic() - self.started)

    def print(self, text: str) -> None:
        if self._shown:
            self.stream.write(_CLEAR_LINE)
            self._shown = False
        self.stream.write(printable(text) + "\n")
        self.stream.flush()

    def redraw(self, text: str) -> None:
        if not self.live:
            return
        self._frame = (self._frame + 1) % len(_SPINNER)
        self.stream.write(f"{_CLEAR_LINE}{_SPINNER[self._frame]} {printable(text)}")
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
            f"job {status.job_id} {status.state.name} · {self.line.elapsed} elapsed · "
            f"waiting on {status.waiting_on} · your gas so far {costs.gas_used:,} = "
            f"{amount(costs.gas)}"
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
            f"{self.line.elapsed} elapsed · your gas {amount(self.gas)}"
        )

    def close(self) -> None:
        self.line.close()
