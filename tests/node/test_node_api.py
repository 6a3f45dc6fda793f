"""The read-only node API (issue 14, item 3): a real node started with ``--api-listen``,
registered with ``--api-url``, on real anvil and Docker; the requester side through
``requester.node_api`` and the ``requester`` CLI as a user runs it.

Who may read a running job's logs is the point: its requester sees the lines live (checked by
the job still being CLAIMED on chain and ``running`` in the node's journal when the first line
arrives); another account, a stale signature or none at all get 403.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from node_world import PROVIDER, PROVIDER_ADDRESS, Market, shell_job
from support.node import ProviderNode, register_provider

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState
from jobmarket.devnet import free_port
from jobmarket.errors import InvalidInput
from jobmarket.node_api import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    logs_message,
    logs_path,
    sign_text,
)
from provider_node.api.server import NodeApi
from provider_node.executor.jobdir import JobDir
from provider_node.journal.store import Journal
from requester.api import Requester
from requester.node_api import NodeApiClient, NodeApiError, follow_logs, signed_headers

API_PORT = free_port()
API_URL = f"http://127.0.0.1:{API_PORT}"
NODE_ARGS = ["--api-listen", f"127.0.0.1:{API_PORT}"]
REGISTER_ARGS = ["--api-url", API_URL]
# One line a second for some seconds: long enough that lines arrive while it runs, even for a
# requester CLI that takes seconds to start on a busy machine.
TICKS = 8
TICKER = f"for i in $(seq {TICKS}); do echo tick $i; echo warn $i >&2; sleep 1; done; echo done"
TICK_LINES = [*(f"tick {i}" for i in range(1, TICKS + 1)), "done"]


@pytest.fixture(scope="module")
def me(market: Market) -> Iterator[Requester]:
    with Requester.connect(market.url, "TEST::0") as requester:
        yield requester


@pytest.fixture(scope="module")
def api() -> NodeApiClient:
    return NodeApiClient(API_URL, allow_private=True)


def _requester_cli(market: Market, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "requester", *args, "--rpc-url", market.url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JOBMARKET_HOME": str(market.home)},
    )


def _wait_for_claim(market: Market, node: ProviderNode, job_id: int) -> None:
    node.wait_for_step(job_id, "claimed", timeout=30)
    assert market.job(job_id).state == JobState.CLAIMED


def test_the_requester_sees_a_running_jobs_lines_live(
    market: Market, node: ProviderNode, me: Requester, api: NodeApiClient
) -> None:
    job_id = market.post(shell_job(TICKER, timeout_s=60))

    def still_running() -> dict[str, object]:
        """Where the job stands on chain and on the node (its journal) right now."""
        return {"chain": market.job(job_id).state, "node": api.job_view(job_id)["step"]}

    # The CLI follows the job from another process, as a user would ...
    cli = subprocess.Popen(
        [sys.executable, "-m", "requester", "logs", str(job_id), "--follow",
         "--rpc-url", market.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JOBMARKET_HOME": str(market.home)},
    )  # fmt: skip
    # ... and the Python API at the same time.
    seen: list[dict] = []
    at_first_record: dict[str, object] = {}
    ended: list[str] = []

    def on_record(record: dict) -> None:
        if not seen:
            at_first_record.update(still_running())
        seen.append(record)

    follower = threading.Thread(
        target=lambda: ended.append(follow_logs(me.job(job_id), on_record, poll_s=0.2))
    )
    follower.start()
    assert cli.stdout is not None
    first_cli_line = cli.stdout.readline().rstrip("\n")
    at_first_cli_line = still_running()
    # The rest through the same buffered reader (communicate() reads the raw pipe and would
    # miss lines readline() already buffered); stderr drained beside it.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.append(cli.stderr.read()))
    drain.start()
    rest = cli.stdout.read()
    cli.wait(timeout=90)
    drain.join(timeout=90)
    err = errors[0] if errors else ""
    follower.join(timeout=90)

    assert at_first_record == {"chain": JobState.CLAIMED, "node": "running"}
    assert at_first_cli_line == {"chain": JobState.CLAIMED, "node": "running"}
    assert [r["line"] for r in seen if r["stream"] == "stdout"] == TICK_LINES
    warnings = [r["line"] for r in seen if r["stream"] == "stderr"]
    assert warnings == [f"warn {i}" for i in range(1, TICKS + 1)]
    assert ended == ["the job's container ended"]
    assert cli.returncode == 0, err
    assert [first_cli_line, *rest.splitlines()] == TICK_LINES
    assert "container ended" in err
    node.wait_for_step(job_id, "submitted", timeout=60)
    # Once delivered, --follow reads the verified result's logs, as `logs` always did.
    delivered = _requester_cli(market, "logs", str(job_id), "--follow")
    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout.splitlines() == TICK_LINES


def test_only_the_jobs_requester_may_read_its_logs(
    market: Market, node: ProviderNode, me: Requester, api: NodeApiClient
) -> None:
    # It runs long enough for a requester CLI started while it runs to find it running.
    job_id = market.post(shell_job("echo secret; sleep 15", timeout_s=60))
    _wait_for_claim(market, node, job_id)
    now = int(time.time())

    def headers(account: object, stamp: int) -> dict[str, str]:
        text = logs_message(
            job_id,
            market=market.client.address,
            chain_id=market.client.chain_id,
            provider=PROVIDER_ADDRESS,
            timestamp=stamp,
        )
        return {SIGNATURE_HEADER: sign_text(account, text), TIMESTAMP_HEADER: str(stamp)}

    refused = {
        "another account": headers(dev_account(2), now),
        "a stale timestamp": headers(dev_account(0), now - 120),
        "a timestamp from the future": headers(dev_account(0), now + 120),
        "no signature": {},
    }
    answers = {}
    for case, sent in refused.items():
        response = httpx.get(API_URL + logs_path(job_id, follow=False), headers=sent, timeout=10)
        answers[case] = (response.status_code, response.text.count("\n"), response.json())
    for case, (code, lines, body) in answers.items():
        assert (code, lines) == (403, 1), case  # one JSON line, no traceback
        assert set(body) == {"error"} and "secret" not in body["error"], case
    assert "not by job" in answers["another account"][2]["error"]
    assert "from this node's clock" in answers["a stale timestamp"][2]["error"]

    # The requester's own signature opens them (a snapshot now, while it runs).
    # The claim comes before the container's first line: look again until the line is there.
    deadline = time.monotonic() + 30
    while True:
        records = list(api.logs(job_id, signed_headers(me, job_id, PROVIDER_ADDRESS), follow=False))
        if {"stream": "stdout", "line": "secret"} in records or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {"stream": "stdout", "line": "secret"} in records
    # The CLI as another account: one error line naming the refusal, exit 1, no traceback.
    other = _requester_cli(market, "logs", str(job_id), "--follow", "--account", "TEST::2")
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert other.stderr.startswith("error: ") and other.stderr.count("\n") == 1
    assert "403" in other.stderr and "requester" in other.stderr
    node.wait_for_step(job_id, "submitted", timeout=60)


def test_an_unknown_job_is_404_and_writes_are_refused(api: NodeApiClient) -> None:
    with pytest.raises(NodeApiError, match=r"\(404\): job 999999 is unknown to this node"):
        api.job_view(999999)
    response = httpx.post(API_URL + "/v1/jobs/1", timeout=10)
    assert response.status_code == 405 and "read-only" in response.json()["error"]
    response = httpx.get(API_URL + "/v1/other", timeout=10)
    assert response.status_code == 404 and set(response.json()) == {"error"}
    response = httpx.request("GET", API_URL + "/v1/jobs/1", content=b"x" * 100, timeout=10)
    assert response.status_code == 413 and set(response.json()) == {"error"}
    with socket.create_connection(("127.0.0.1", API_PORT), timeout=10) as raw:
        raw.sendall(b"\x00\xff GARBAGE\r\n\r\n")
        answer = raw.recv(4096)
    assert answer.startswith(b'{"error": ') and b"Traceback" not in answer


def test_requester_status_shows_the_nodes_view(market: Market, node: ProviderNode) -> None:
    done = market.post(shell_job("echo fine", timeout_s=60))
    node.wait_for_step(done, "submitted", timeout=60)
    # A job the provider will not run, designated to it: the node says why it declined.
    refused = market.post(
        shell_job("true").model_copy(update={"image": "jobmarket/absent:1"}),
        designated=PROVIDER_ADDRESS,
    )
    node.wait_for_step(refused, "declined", timeout=30)

    text = _requester_cli(market, "status", str(done))
    as_json = _requester_cli(market, "status", str(done), "--json")
    declined = _requester_cli(market, "status", str(refused))

    assert text.returncode == 0, text.stderr
    assert "provider view:   submitted since" in text.stdout and API_URL in text.stdout
    assert "run:           succeeded (exit 0)" in text.stdout
    view = json.loads(as_json.stdout)["provider_api"]
    assert view["url"] == API_URL and view["problem"] is None
    assert view["view"]["step"] == "submitted" and view["view"]["job_id"] == done
    assert [tx["function"] for tx in view["view"]["transactions"]] == ["claim", "submit_result"]
    # When the node reached each step, in order: where a slow job spent its time.
    timeline = view["view"]["steps"]
    assert [entry["step"] for entry in timeline] == [
        "seen", "claiming", "claimed", "running", "pinned", "submitted"
    ]  # fmt: skip
    times = [entry["at"] for entry in timeline]
    assert times == sorted(times) and times[-1] <= view["view"]["since"]
    assert "timeline:      seen 20" in text.stdout and ", submitted +" in text.stdout
    assert declined.returncode == 0, declined.stderr
    assert "provider view:   declined" in declined.stdout
    assert "jobmarket/absent:1" in declined.stdout  # the reason, as the node journaled it


def test_requester_status_says_in_one_line_when_the_api_does_not_answer(
    market: Market, node: ProviderNode
) -> None:
    # Runs last: the provider now publishes an address where nothing listens.
    job_id = market.post(shell_job("echo fine", timeout_s=60))
    node.wait_for_step(job_id, "submitted", timeout=60)
    since = node.mark()
    dead = f"http://127.0.0.1:{free_port()}"
    register_provider(
        market.url, market.home, account=PROVIDER, stake="0", args=["--api-url", dead]
    )
    node.wait_for(lambda e: e.get("event") == "capabilities-updated", since=since, timeout=30)

    result = _requester_cli(market, "status", str(job_id))

    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "provider API" in line]
    assert line.strip().startswith("provider API:    unreachable (")
    assert "Traceback" not in result.stderr


def test_a_listen_address_it_cannot_use_is_one_line(market: Market, tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "provider_node", "run", "--api-listen", "no-port-here",
         "--rpc-url", market.url],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "JOBMARKET_HOME": str(tmp_path)},
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "'no-port-here' is not HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        api = NodeApi(
            ("127.0.0.1", port),
            journal=Journal(tmp_path / "journal.sqlite3"),
            node={"account": PROVIDER_ADDRESS, "market": market.client.address, "chain_id": 1},
            jobdir_of=lambda job_id: JobDir(tmp_path / str(job_id)),
            stop=threading.Event(),
        )
        with pytest.raises(InvalidInput, match=f"cannot listen on 127.0.0.1:{port}"):
            api.start()
