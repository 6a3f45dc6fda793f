"""One retry loop for the node's passing faults: what it retries, when it stops, and the one
line start-up gives when the faults outlast its bound."""

from __future__ import annotations

import logging
import threading

import pytest
import requests.exceptions

from jobmarket.errors import InvalidInput, Unreachable
from provider_node.context.retry import Interrupted, backoff, retry_transient
from provider_node.node import retry_start_up

log = logging.getLogger("provider_node")


def _failing(*failures: BaseException):
    """A call that raises ``failures`` in turn, then answers 'ok'; counts its calls."""
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    return call, calls


def test_transient_failures_are_retried_until_the_call_answers():
    reset = requests.exceptions.ConnectionError("connection reset by peer")
    call, calls = _failing(reset, reset)
    fast = backoff(first=0.001, longest=0.001)
    assert retry_transient(call, what="reading", log=log, pauses=fast) == "ok"
    assert len(calls) == 3


def test_an_answer_that_is_not_a_passing_fault_is_raised_at_once():
    call, calls = _failing(InvalidInput("bad", "fix it"))
    with pytest.raises(InvalidInput):
        retry_transient(call, what="reading", log=log, pauses=backoff(0.001, 0.001))
    assert len(calls) == 1


def test_a_stop_request_interrupts_the_wait():
    stop = threading.Event()
    stop.set()
    call, _ = _failing(TimeoutError("slow"))
    with pytest.raises(Interrupted):
        retry_transient(call, what="reading", log=log, stop=stop)


def test_retries_give_up_with_the_last_failure_once_past_their_bound():
    endless = [requests.exceptions.ConnectionError(f"reset {n}") for n in range(1000)]
    call, calls = _failing(*endless)
    with pytest.raises(requests.exceptions.ConnectionError, match="reset"):
        retry_transient(
            call, what="reading", log=log, give_up_after_s=0.05, pauses=backoff(0.01, 0.01)
        )
    assert 2 <= len(calls) < 20


def test_start_up_turns_faults_that_outlast_its_bound_into_one_line(monkeypatch):
    monkeypatch.setattr("provider_node.node.STARTUP_RETRY_S", 0.6)
    call, _ = _failing(*[requests.exceptions.ConnectionError("reset")] * 100)
    with pytest.raises(Unreachable) as raised:
        retry_start_up(call)
    assert raised.value.problem.startswith("the node could not start: ")
    assert "(still failing after 0.6 s of retries)" in raised.value.problem
    docker_down = Unreachable("Docker is not reachable at unix:///x", "start Docker")
    call, _ = _failing(*[docker_down] * 100)
    with pytest.raises(Unreachable, match="Docker is not reachable"):  # its own line, kept
        retry_start_up(call)
