"""A node's background rounds (settling, housekeeping): one daemon thread each, calling
``tick`` every ``interval_s`` until the runtime stops.

A failed round is one rate-limited warning (an error when not transient), counted by kind like
every other failure; it never ends the thread: the next round tries again.
"""

from __future__ import annotations

import logging
import threading

from provider_node.context.logs import emit_repeated
from provider_node.context.retry import Interrupted, is_transient
from provider_node.context.runtime import Runtime

log = logging.getLogger("provider_node")


class PeriodicTask:
    """Subclasses give ``tick``; ``first_round_at_once`` runs one before the first wait."""

    # The log event of a failed round, e.g. ``settler-error``.
    error_event = "periodic-error"
    first_round_at_once = False

    def __init__(self, runtime: Runtime, interval_s: float, *, name: str) -> None:
        self.rt = runtime
        self.interval_s = interval_s
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def tick(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        if not self.first_round_at_once and self.rt.stop.wait(self.interval_s):
            return
        while True:
            try:
                self.tick()
            except Interrupted:
                return
            except Exception as err:
                level = logging.WARNING if is_transient(err) else logging.ERROR
                emit_repeated(log, self.error_event, level, (type(err).__name__,), cause=err)
            if self.rt.stop.wait(self.interval_s):
                return
