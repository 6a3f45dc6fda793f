"""Telling a passing fault (RPC down, Docker busy) from an answer, and waiting it out.

A node runs for weeks: a dropped HTTP connection or a rate-limited RPC must cost a retry, not
the process. Reverts and refusals are answers, never retried here (see ``transactions``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests.exceptions
from web3.exceptions import Web3RPCError

from jobmarket.errors import Unreachable
from provider_node.context.logs import emit_repeated

T = TypeVar("T")

# JSON-RPC error codes that mean "try again later" (rate limits, node busy or behind).
_TRANSIENT_RPC_CODES = frozenset({-32000, -32002, -32005, -32603, 429})
_TRANSIENT_WORDS = ("timeout", "timed out", "rate limit", "too many requests", "busy", "try again")
# Transport failures: the request may not even have reached the other side.
_TRANSIENT_TYPES = (
    Unreachable,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    TimeoutError,
    ConnectionError,
)


class Interrupted(Exception):
    """The node is shutting down; the step in progress stays journaled for the next start."""


def is_transient(err: BaseException) -> bool:
    """True for failures that say nothing about the request itself, only the moment."""
    if isinstance(err, _TRANSIENT_TYPES):
        return True
    if isinstance(err, requests.exceptions.HTTPError):
        status = err.response.status_code if err.response is not None else 0
        return status == 429 or status >= 500
    if isinstance(err, Web3RPCError):
        code = (err.rpc_response or {}).get("error", {}).get("code")
        message = str(err).lower()
        return code in _TRANSIENT_RPC_CODES and any(w in message for w in _TRANSIENT_WORDS)
    return False


def backoff(first: float = 0.2, longest: float = 10.0) -> Iterator[float]:
    """Pauses that double from ``first`` up to ``longest``."""
    pause = first
    while True:
        yield pause
        pause = min(pause * 2, longest)


def retry_transient(
    call: Callable[[], T],
    *,
    what: str,
    log: logging.Logger,
    stop: threading.Event | None = None,
    give_up_after_s: float | None = None,
    pauses: Iterator[float] | None = None,
    event: str = "retry",
    level: int = logging.WARNING,
) -> T:
    """``call()``, retried with backoff while it fails transiently.

    Each retry logs ``event`` at ``level`` (the same cause at most once per window). Raises
    :class:`Interrupted` when ``stop`` is set while waiting, and the last failure itself once
    the next pause would end past ``give_up_after_s`` (None: never give up).
    """
    pauses = pauses or backoff()
    give_up_at = None if give_up_after_s is None else time.monotonic() + give_up_after_s
    while True:
        try:
            return call()
        except Exception as err:
            if not is_transient(err):
                raise
            pause = next(pauses)
            if give_up_at is not None and time.monotonic() + pause > give_up_at:
                raise
            emit_repeated(
                log, event, level, (what, type(err).__name__), what=what, cause=err, retry_in=pause
            )
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                raise Interrupted(what) from err
