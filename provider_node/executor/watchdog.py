"""Enforce a job's wall-clock deadline without trusting any Docker API call to return.

Two parts:

* :class:`ProcessWatch` holds a pidfd on the container's init process (``State.Pid``). Polling
  it tells when the job has exited, and ``pidfd_send_signal(SIGKILL)`` kills it; killing a PID
  namespace's init makes the kernel kill every process in it. Neither touches dockerd, so a
  hung or frozen API cannot delay them, and a pidfd can never signal a recycled pid. The
  watch is used only when the pid is verifiably the container's (its cgroup names the
  container id) and we may signal it (root); otherwise the executor falls back to the API.
* :class:`Watchdog` is one thread per executor that fires each job's expiry action at its
  deadline, whether or not anyone is waiting for the job at that moment.
"""

from __future__ import annotations

import heapq
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)


class ProcessWatch:
    """A pidfd on a container's init process: observe its exit, kill it, API-free."""

    def __init__(self, pidfd: int, pid: int) -> None:
        self.pidfd = pidfd
        self.pid = pid
        self._lock = threading.Lock()

    @classmethod
    def attach(cls, pid: int, container_id: str) -> ProcessWatch | None:
        """A watch on ``pid`` if it is ``container_id``'s process and we may signal it."""
        if pid <= 0 or not hasattr(os, "pidfd_open"):
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # exited already, or another PID namespace (remote engine)
            return None
        try:
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
            if container_id not in cgroups:
                raise PermissionError("not the container's process")
            signal.pidfd_send_signal(pidfd, 0)  # may we signal it?
        except ProcessLookupError:
            pass  # it exited after pidfd_open: the watch still reports that correctly
        except OSError:
            os.close(pidfd)
            return None
        return cls(pidfd, pid)

    def exited(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True once the process has exited."""
        with self._lock:
            if self.pidfd < 0:
                return True
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000))

    def kill(self) -> bool:
        """SIGKILL the container's init (and with it its whole PID namespace)."""
        with self._lock:
            if self.pidfd < 0:
                return False
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                return True  # already gone
            except OSError as err:
                log.warning("could not kill pid %s: %s", self.pid, err)
                return False
            return True

    def close(self) -> None:
        with self._lock:
            if self.pidfd >= 0:
                os.close(self.pidfd)
                self.pidfd = -1

    def __del__(self) -> None:
        if getattr(self, "pidfd", -1) >= 0:
            os.close(self.pidfd)


class Watchdog:
    """Runs each armed job's expiry action once its deadline (epoch seconds) has passed."""

    def __init__(self) -> None:
        self._deadlines: dict[str, float] = {}
        self._actions: dict[str, Callable[[], None]] = {}
        self._queue: list[tuple[float, str]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="executor-watchdog", daemon=True)
        self._thread.start()

    def arm(self, key: str, deadline: float, action: Callable[[], None]) -> None:
        """Fire ``action`` at ``deadline``; re-arming a key keeps the earlier deadline."""
        with self._wake:
            current = self._deadlines.get(key)
            if current is not None and current <= deadline:
                return
            self._deadlines[key] = deadline
            self._actions[key] = action
            heapq.heappush(self._queue, (deadline, key))
            self._wake.notify()

    def disarm(self, key: str) -> None:
        with self._wake:
            self._deadlines.pop(key, None)
            self._actions.pop(key, None)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                due = self._next_due()
                if due is None:
                    return
            for key, action in due:
                try:
                    action()
                except Exception:  # the watchdog must outlive any one job's failure
                    log.exception("watchdog action for job %s failed", key)

    def _next_due(self) -> list[tuple[str, Callable[[], None]]] | None:
        """Block until something is due (returned) or the watchdog closes (None)."""
        while not self._closed:
            now = time.time()
            due: list[tuple[str, Callable[[], None]]] = []
            while self._queue and self._queue[0][0] <= now:
                deadline, key = heapq.heappop(self._queue)
                if self._deadlines.get(key) == deadline:
                    del self._deadlines[key]
                    due.append((key, self._actions.pop(key)))
            if due:
                return due
            # Wake at least every second: wall-clock jumps must not postpone a kill for long.
            timeout = min(1.0, self._queue[0][0] - now) if self._queue else 1.0
            self._wake.wait(timeout)
        return None


def parse_docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 nanosecond timestamps; its zero time means "never"."""
    if not value or value.startswith("0001-01-01"):
        return None
    main, _, fraction = value.rstrip("Z").partition(".")
    micros = (fraction + "000000")[:6] if fraction else "000000"
    return datetime.fromisoformat(f"{main}.{micros}").replace(tzinfo=UTC)
