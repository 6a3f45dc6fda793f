"""The node API against a hostile stranger (adversarial tier): the real server
(:class:`provider_node.api.server.NodeApi`) on a real journal, spoken to over real sockets.

Whatever a stranger sends, the answer is one JSON line with a 4xx code (never a 500, never an
``api-error`` warning the stranger can make the node write at will), and no request can hold
one of the node's few connection slots for longer than the request deadline.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.node_api import SIGNATURE_HEADER, TIMESTAMP_HEADER, logs_message, sign_text
from provider_node.api import server
from provider_node.api.server import MAX_STREAMS, NodeApi
from provider_node.executor.jobdir import JobDir
from provider_node.journal.store import Journal, PostedJob
from provider_node.lifecycle.steps import Step

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[NodeApi]:
    node_api = NodeApi(
        ("127.0.0.1", 0),
        journal=Journal(tmp_path / "journal.sqlite3"),
        node={"account": ACCOUNT, "market": ACCOUNT, "chain_id": 1},
        jobdir_of=lambda job_id: JobDir(tmp_path / "jobs" / str(job_id)),
        stop=threading.Event(),
    )
    node_api.start()
    yield node_api
    node_api.close()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/99999999999999999999",  # beyond SQLite's INTEGER
        "/v1/jobs/9223372036854775808/logs",  # 2**63
        "/v1/jobs/1?" + "&".join(f"f{i}=1" for i in range(20)),  # more query fields than allowed
    ],
)
def test_a_strangers_odd_request_is_a_4xx_line_never_a_500(
    api: NodeApi, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = httpx.get(api.url + path, timeout=10)
    assert 400 <= response.status_code < 500, response.text
    assert response.text.count("\n") == 1 and set(response.json()) == {"error"}
    assert "api-error" not in caplog.text  # no warning a stranger can make the node write


def test_a_request_dribbled_a_byte_at_a_time_loses_its_slot_at_the_deadline(
    api: NodeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "REQUEST_TIMEOUT_S", 1.0)
    host, port = api.url.removeprefix("http://").rsplit(":", 1)
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"GET /v1/jobs/1 HTTP/1.1\r\nX-Slow: ")
        # Far longer than the deadline in all (30 x 0.3 s), each byte well within the
        # socket's per-read timeout: the deadline, not the read timeout, must drop it.
        for _ in range(30):
            try:
                raw.sendall(b"x")
            except OSError:
                break
            time.sleep(0.3)
            raw.setblocking(False)
            try:
                answer += raw.recv(4096)
            except BlockingIOError:
                pass
            finally:
                raw.setblocking(True)
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'{"error": "the request did not arrive within 1 s"}' in answer


def _running_job(journal: Journal, job_id: int, requester: str) -> None:
    """A job the journal has as running (its container comes: a followed stream waits)."""
    posted = PostedJob(job_id, requester, None, bytes(32), 10**16, 10**15, 2**40, 600, 600, 1)
    journal.record_posted(posted)
    journal.write_step(job_id, Step.RUNNING)


def _open_stream(api: NodeApi, job_id: int, account: object) -> tuple[socket.socket, bytes]:
    """A followed log stream, signed by ``account``; the socket (left open) and status line."""
    stamp = int(time.time())
    text = logs_message(job_id, market=ACCOUNT, chain_id=1, provider=ACCOUNT, timestamp=stamp)
    host, port = api.url.removeprefix("http://").rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=10)
    signed = f"{SIGNATURE_HEADER}: {sign_text(account, text)}\r\n{TIMESTAMP_HEADER}: {stamp}"
    raw.sendall(f"GET /v1/jobs/{job_id}/logs?follow=1 HTTP/1.1\r\n{signed}\r\n\r\n".encode())
    status = b""
    while b"\r\n" not in status:
        status += raw.recv(1)
    return raw, status.split(b"\r\n")[0]


def test_one_requester_cannot_hold_every_log_stream(api: NodeApi) -> None:
    greedy, honest = dev_account(3), dev_account(4)
    for job_id in range(MAX_STREAMS):
        _running_job(api.journal, job_id, greedy.address)
    _running_job(api.journal, 100, honest.address)
    opened: list[socket.socket] = []
    try:
        answers = []
        for job_id in range(MAX_STREAMS):  # as many as the node would take
            raw, status = _open_stream(api, job_id, greedy)
            opened.append(raw)
            answers.append(status)
        raw, honest_status = _open_stream(api, 100, honest)
        opened.append(raw)
    finally:
        for raw in opened:
            raw.close()
    assert honest_status == b"HTTP/1.1 200 OK"  # the other requester still gets its stream
    assert answers.count(b"HTTP/1.1 200 OK") == server.MAX_STREAMS_PER_REQUESTER
    assert set(answers[server.MAX_STREAMS_PER_REQUESTER :]) == {b"HTTP/1.1 503 Service Unavailable"}


def test_a_stranger_repeating_refused_requests_cannot_fill_the_nodes_log(
    api: NodeApi, caplog: pytest.LogCaptureFixture
) -> None:
    _running_job(api.journal, 5, dev_account(3).address)
    caplog.set_level(logging.INFO, logger="provider_node")
    with httpx.Client(timeout=10) as client:
        codes = {client.get(api.url + "/v1/jobs/5/logs").status_code for _ in range(50)}
    assert codes == {403}
    refusals = [r for r in caplog.records if "api-refused" in r.getMessage()]
    assert len(refusals) <= 1  # one line per 30 s, the next one saying how many were left out


def _snapshot(api: NodeApi, job_id: int, account: object) -> list[dict]:
    stamp = int(time.time())
    text = logs_message(job_id, market=ACCOUNT, chain_id=1, provider=ACCOUNT, timestamp=stamp)
    headers = {SIGNATURE_HEADER: sign_text(account, text), TIMESTAMP_HEADER: str(stamp)}
    response = httpx.get(f"{api.url}/v1/jobs/{job_id}/logs", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_the_requester_of_a_post_a_reorg_replaced_cannot_read_the_old_posts_logs(
    api: NodeApi,
) -> None:
    first, second = dev_account(3), dev_account(4)
    _running_job(api.journal, 7, first.address)
    logs = api.jobdir_of(7).logs
    logs.mkdir(parents=True)
    (logs / "stdout.log").write_text("the first requester's secret\n")
    assert {"stream": "stdout", "line": "the first requester's secret"} in _snapshot(api, 7, first)
    # The journal as the ledger leaves it when a reorg brings job 7 back posted by another
    # requester (a JobPosted with the same id), before the reconciler stops and purges the old
    # post's container and folder: the folder still holds the first requester's lines.
    reposted = PostedJob(7, second.address, None, b"\1" * 32, 10**16, 10**15, 2**40, 600, 600, 9)
    assert api.journal.record_posted(reposted) == "changed"
    api.journal.write_step(7, Step.SEEN)

    records = _snapshot(api, 7, second)
    assert not any("secret" in str(record) for record in records)
    assert "no container of it ran here" in records[-1]["end"]
