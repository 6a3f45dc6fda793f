"""A provider's hostile node API against the requester's client (adversarial tier).

The provider publishes its API's URL; what answers there is the provider's to choose. A real
node never dribbles its answers, so the server here is a STAND-IN for a hostile provider (a
plain socket server on loopback), injecting what the real node cannot produce: an answer
that arrives a byte at a time and never ends, and a log stream that never ends. The client
must give up within its own bound with one Unreachable line (exit 3), whatever the server
does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from jobmarket.errors import Unreachable
from requester import node_api
from requester.node_api import NodeApiClient, ProviderView
from requester.render import MAX_TIMELINE_STEPS, provider_view_text

# How long the stand-in goes on at most: far past the client's bounds set below.
SERVER_GIVES_UP_S = 30.0


class _HostileServer:
    """Answers every request with ``head``, then sends ``drip`` every ``every`` seconds until
    the client goes away or SERVER_GIVES_UP_S has passed."""

    def __init__(self, head: bytes, drip: bytes, every: float) -> None:
        self.head, self.drip, self.every = head, drip, every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.still_sending = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(self.head)
            self.still_sending.set()
            ends = time.monotonic() + SERVER_GIVES_UP_S
            try:
                while time.monotonic() < ends:
                    connection.sendall(self.drip)
                    time.sleep(self.every)
            except OSError:
                pass  # the client went away: what it should do
            finally:
                self.still_sending.clear()


@pytest.fixture
def dribbling_view() -> Iterator[_HostileServer]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"
    yield _HostileServer(head, b" ", 0.2)


@pytest.fixture
def endless_stream() -> Iterator[_HostileServer]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
    yield _HostileServer(head, b'{"alive": true}\n', 0.2)


def test_a_view_dribbled_a_byte_at_a_time_is_given_up_at_the_clients_deadline(
    dribbling_view: _HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_api, "VIEW_DEADLINE_S", 1.0)
    client = NodeApiClient(dribbling_view.url, allow_private=True)
    with pytest.raises(Unreachable, match=r"took more than 1 s to answer") as refused:
        client.job_view(7)
    assert dribbling_view.still_sending.is_set()  # the client gave up, not the server
    assert "\n" not in str(refused.value.problem) and refused.value.exit_code == 3


def test_a_log_stream_that_never_ends_stops_past_the_jobs_deadline(
    endless_stream: _HostileServer,
) -> None:
    client = NodeApiClient(endless_stream.url, allow_private=True)
    records = 0
    with pytest.raises(Unreachable, match=r"kept streaming past the job's work deadline"):
        for _ in client.logs(7, {}, follow=True, until=time.monotonic() + 1.0):
            records += 1
    assert endless_stream.still_sending.is_set()  # the client gave up, not the server
    assert records > 0  # it did read the stream until then


def test_a_stream_sent_in_tiny_pieces_arrives_whole_at_a_cost_in_proportion_to_its_bytes() -> None:
    record = b'{"stream": "stdout", "line": "' + b"x" * 400_000 + b'"}\n'
    pieces = [record[i : i + 16] for i in range(0, len(record), 16)]
    started = time.perf_counter()
    lines = list(node_api._bounded_lines(iter(pieces), None, "http://127.0.0.1:1"))
    took = time.perf_counter() - started
    assert lines == [record[:-1]]
    print(f"\n{len(record):,} bytes in {len(pieces):,} pieces of 16 split in {took:.3f} s")


def test_a_hostile_timeline_is_shown_as_plain_text_or_left_out() -> None:
    """The steps and times come from a stranger's node: escapes are defanged, entries that are
    not a step name and a plausible time are left out, and a flood is cut to the newest."""
    start = 1_800_000_000.0
    steps = [
        {"step": "seen", "at": start},
        {"step": "claiming\x1b[2J", "at": start + 0.4},
        {"step": "running", "at": "soon"},
        {"step": "pinned", "at": True},
        {"step": ["x"], "at": start + 1},
        "garbage",
        {"step": "submitted", "at": start + 125},
    ]
    document = {"step": "submitted", "since": start + 125, "steps": steps}
    text = provider_view_text(ProviderView(None, "http://node.example", document, None))
    [timeline] = [line for line in text.splitlines() if "timeline:" in line]
    assert "\x1b" not in timeline
    assert timeline.endswith("seen 2027-01-15 08:00:00 UTC, claiming\\e[2J +0.4s, submitted +2m 5s")

    flood = [{"step": f"s{n}", "at": start + n} for n in range(10_000)]
    text = provider_view_text(
        ProviderView(None, "http://node.example", {"step": "seen", "steps": flood}, None)
    )
    assert text.count(", s") == MAX_TIMELINE_STEPS - 1
    assert "timeline:      s9968 " in text
    assert "timeline" not in provider_view_text(
        ProviderView(None, "http://node.example", {"step": "seen", "steps": "x" * 10}, None)
    )
