"""`requester post --wait` through a bad network (issue 11): a relay in front of the real anvil
resets 10 % of connections and drops answers to ``eth_sendRawTransaction`` (FAULT INJECTION:
anvil itself never loses a connection, see ``tests/support/flaky_rpc.py``).

Each post either completes (exit 0) or gives up with one ``error:`` line and exit 3, never a
traceback; and the chain holds exactly as many jobs as the CLI reported posted: a post whose
answer was lost is looked up by its hash, never reported "not taken" when it was mined.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/support

from requester_support import IMAGE
from support.flaky_rpc import FlakyRpcRelay

POSTS = 8


@pytest.fixture
def delivering(chain, provider, tmp_path):
    """A provider that claims and delivers every new job (over the direct, healthy RPC)."""
    stop = threading.Event()
    first = chain.client.job_count()

    def serve() -> None:
        done = first
        while not stop.is_set():
            count = chain.client.job_count()
            for job_id in range(done, count):
                provider.deliver(job_id, tmp_path / f"job-{job_id}", {"out": b"ok\n"})
            done = count
            stop.wait(0.2)

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    yield first
    stop.set()
    worker.join(timeout=30)


def test_post_wait_survives_resets_and_lost_send_answers(cli, chain, delivering):
    first = delivering
    with FlakyRpcRelay(chain.anvil.port, reset_ratio=0.1, drop_ratio=0.5, seed=11) as relay:
        outcomes = [
            cli("post", "--image", IMAGE, "--cmd", "true", "--price", "0.01", "--wait",
                "--wait-timeout", "60s", "--rpc-url", relay.url)
            for _ in range(POSTS)
        ]  # fmt: skip
    posted = []
    for outcome in outcomes:
        assert "Traceback" not in outcome.stderr and "Traceback" not in outcome.stdout
        assert outcome.exit_code in (0, 3), (outcome.exit_code, outcome.stderr)
        errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
        if outcome.exit_code == 3:
            assert len(errors) == 1, outcome.stderr
            assert "did not take the transaction" not in errors[0]
        else:
            assert errors == []
            [job] = re.findall(r"^posted job (\d+) ", outcome.stdout, re.MULTILINE)
            posted.append(int(job))
            assert f"job {job} is SUBMITTED" in outcome.stdout
            hashes = re.findall(r"sending post_job transaction (0x[0-9a-f]{64})", outcome.stderr)
            assert len(hashes) == 1  # printed before sending
    exits = [outcome.exit_code for outcome in outcomes]
    print(
        f"flaky_rpc posts={POSTS} exit0={exits.count(0)} exit3={exits.count(3)}",
        dict(relay.counts),
    )
    assert relay.counts["reset"] >= 1 and relay.counts["dropped"] >= 1, relay.counts
    assert chain.client.job_count() - first == len(posted)
    assert sorted(posted) == list(range(first, first + len(posted)))


def test_status_and_wait_give_up_on_a_dead_rpc_with_one_line(cli, chain, post, monkeypatch):
    """An outage longer than the retries: one ``error:`` line, exit 3, no traceback."""
    from jobmarket.chain import rpc

    job_id = post()
    monkeypatch.setattr(rpc, "OPERATION_BACKOFF_S", (0.05, 0.1))  # about a minute in real use
    monkeypatch.setattr(rpc, "REQUEST_BACKOFF_S", 0.01)
    with FlakyRpcRelay(chain.anvil.port, reset_ratio=0.0, seed=3) as relay:
        from requester import verbs
        from requester.api import Requester

        with Requester.connect(relay.url, "TEST::0") as me:
            relay.reset_ratio = 1.0  # from now on every connection is reset
            for run in (
                lambda: verbs.status(me, as_json=False, job_id=str(job_id)),
                lambda: verbs.wait(me, as_json=False, job_id=str(job_id), until=None, timeout="5s"),
            ):
                with pytest.raises(rpc.Unreachable) as raised:
                    run()
                assert raised.value.exit_code == 3
                assert raised.value.message.startswith("the Ethereum RPC stopped answering while ")
                assert "\n" not in raised.value.message
