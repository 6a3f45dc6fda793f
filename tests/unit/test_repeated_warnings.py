"""One outage, one warning per window: a Docker or RPC outage no longer floods the log."""

from __future__ import annotations

import logging

from provider_node.context import logs


def test_the_same_warning_is_written_once_per_window_then_with_the_count(node_log, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    log = logging.getLogger("provider_node")
    for _ in range(60):  # 2.4 a second for 25 s, as the Docker outage did
        logs.emit_repeated(log, "loop-error", logging.WARNING, ("DockerException",), error="x")
        clock[0] += 1 / 2.4
    clock[0] = 1000.0 + logs.REPEAT_WINDOW_S + 1
    logs.emit_repeated(log, "loop-error", logging.WARNING, ("DockerException",), error="x")
    lines = [r.fields for r in node_log.records if r.getMessage() == "loop-error"]
    assert len(lines) == 2
    assert lines[0].get("repeated") is None and lines[1]["repeated"] == 59


def test_another_kind_of_failure_is_not_held_back(node_log):
    log = logging.getLogger("provider_node")
    logs.emit_repeated(log, "settler-error", logging.WARNING, ("A",), error="a")
    logs.emit_repeated(log, "settler-error", logging.WARNING, ("B",), error="b")
    assert [r.fields["error"] for r in node_log.records if r.getMessage() == "settler-error"] == [
        "a",
        "b",
    ]
