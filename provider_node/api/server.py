"""The node's read-only HTTP API (``provider-node run --api-listen HOST:PORT``; off by default).

Standard library only (:class:`http.server.ThreadingHTTPServer`), in the node's process, next
to its loop. It reads the journal and the job folders and writes nothing:

* ``GET /v1/jobs/{id}`` → the node's view of the job (:func:`~.views.job_view`), 404 when the
  node never saw it;
* ``GET /v1/jobs/{id}/logs[?follow=1]`` → the job's stdout and stderr as JSON Lines, chunked:
  ``{"stream": "stdout", "line": "…"}``; with ``follow`` until the job's container ended (then
  ``{"end": "…"}``), without it what the files hold now. Only for the job's requester: the
  request carries an EIP-191 signature of :func:`jobmarket.node_api.logs_message` and the
  time it was signed at (within ±60 s of the node's clock); anything else is 403.

Every answer is JSON, errors one line ``{"error": "…"}``; no traceback ever reaches a client.
Requests are bounded (GET only, no body, at most :data:`MAX_QUERY_FIELDS` query fields, the
standard library's limits on the request line and headers, which must all arrive within
:data:`REQUEST_TIMEOUT_S`) and so is the work: at most :data:`MAX_CONNECTIONS` connections and
:data:`MAX_STREAMS` log streams at once, :data:`MAX_STREAMS_PER_REQUESTER` per requester (503
beyond), documents of at most
:data:`~jobmarket.node_api.MAX_DOCUMENT_BYTES`.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from jobmarket.errors import InvalidInput
from jobmarket.node_api import (
    HEARTBEAT_S,
    LOGS_CONTENT_TYPE,
    MAX_DOCUMENT_BYTES,
    REPLAY_WINDOW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    logs_message,
    recover_signer,
)
from provider_node.api.logstream import LogTail
from provider_node.api.views import job_view
from provider_node.context.listen import BoundedServer
from provider_node.context.logs import emit_repeated
from provider_node.executor import supervisor
from provider_node.executor.jobdir import JobDir
from provider_node.executor.logs import CAPTURE_NAME
from provider_node.journal.store import Journal
from provider_node.lifecycle.steps import Step

log = logging.getLogger("provider_node")

MAX_CONNECTIONS = 32
MAX_STREAMS = 8
#: Log streams one requester may hold at once: one requester cannot take every stream.
MAX_STREAMS_PER_REQUESTER = 2
REQUEST_TIMEOUT_S = 10.0
MAX_QUERY_FIELDS = 8
_POLL_S = 0.2
_FLUSH_BYTES = 64 * 1024
# Steps at which a job's container may still be coming or running: a followed stream waits.
_LIVE_STEPS = frozenset({Step.CLAIMING, Step.CLAIMED, Step.RUNNING})
# Steps at which no container of the job's current post ran here: what its folder may still
# hold (a post a reorg replaced, before the reconciler purged it) is another requester's.
_NOT_RUN_STEPS = frozenset({Step.SEEN, Step.DECLINED})
_JOB = re.compile(r"/v1/jobs/([0-9]{1,20})")
_LOGS = re.compile(r"/v1/jobs/([0-9]{1,20})/logs")


class NodeApi:
    """The API server of one running node; :meth:`start` binds and serves in a thread."""

    def __init__(
        self,
        listen: tuple[str, int],
        *,
        journal: Journal,
        node: dict[str, Any],
        jobdir_of: Callable[[int], JobDir],
        stop: threading.Event,
    ) -> None:
        self.listen = listen
        self.journal = journal
        self.node = node  # account, market, chain_id: shown in views, bound into signatures
        self.jobdir_of = jobdir_of
        self.stop = stop
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._streams_by_requester: dict[str, int] = {}
        self._streams_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def start(self) -> str:
        """Bind and serve; the URL it listens on. One line (exit 2) if it cannot bind."""
        host, port = self.listen
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_BoundServer", (_Server,), {"address_family": family})
            self._server = server_class((host, port), _Handler, api=self)
        except (OSError, UnicodeError) as err:
            raise InvalidInput(
                f"the node API cannot listen on {host}:{port} ({err.strerror or err})",
                "pick a free port and an address of this machine for --api-listen",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="node-api"
        )
        self._thread.daemon = True
        self._thread.start()
        return self.url

    def open_stream(self, requester: str) -> str | None:
        """Take a log stream for ``requester``; why not (None: taken, :meth:`close_stream`
        gives it back)."""
        key = requester.lower()
        with self._streams_lock:
            held = self._streams_by_requester.get(key, 0)
            if held >= MAX_STREAMS_PER_REQUESTER:
                return (
                    f"this requester already has {held} log streams open on this node (at most "
                    f"{MAX_STREAMS_PER_REQUESTER}); close one first"
                )
            if not self.streams.acquire(blocking=False):
                return "too many log streams are open on this node; try again shortly"
            self._streams_by_requester[key] = held + 1
        return None

    def close_stream(self, requester: str) -> None:
        key = requester.lower()
        with self._streams_lock:
            held = self._streams_by_requester.pop(key, 0) - 1
            if held > 0:
                self._streams_by_requester[key] = held
            self.streams.release()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Server(BoundedServer):
    max_connections = MAX_CONNECTIONS
    busy_answer = (b"application/json", b'{"error": "the node API is busy; try again shortly"}\n')

    def __init__(self, address: tuple[str, int], handler: type, *, api: NodeApi) -> None:
        self.api = api
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("node API request failed", exc_info=True)  # never on the client's side


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "jobmarket-node-api"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_S

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def api(self) -> NodeApi:
        return self.server.api

    def handle_one_request(self) -> None:
        """One request whose line and headers must all arrive within
        :data:`REQUEST_TIMEOUT_S` (the socket's timeout alone is per read: a client sending a
        byte every few seconds would hold a connection slot for ever)."""
        self._head_late = False
        timer = threading.Timer(REQUEST_TIMEOUT_S, self._head_overdue)
        timer.daemon = True
        self._head_timer = timer
        timer.start()
        try:
            super().handle_one_request()
        finally:
            timer.cancel()

    def _head_overdue(self) -> None:
        self._head_late = True
        with suppress(OSError):  # the blocked read returns; the answer can still be written
            self.connection.shutdown(socket.SHUT_RD)

    def parse_request(self) -> bool:
        parsed = super().parse_request()  # reads the headers
        self._head_timer.cancel()
        if self._head_late:
            self.close_connection = True
            if parsed:  # a head cut short by the deadline is not a request to answer
                self._error(408, f"the request did not arrive within {REQUEST_TIMEOUT_S:.0f} s")
            return False
        return parsed

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("node API %s", format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (bad request line, headers too long, unknown
        method) as one JSON line, like every other answer."""
        self.close_connection = True
        if getattr(self, "_head_late", False):  # cut short by the deadline, not malformed
            code, message = 408, f"the request did not arrive within {REQUEST_TIMEOUT_S:.0f} s"
        with suppress(Exception):
            self._json(code, {"error": message or HTTPStatus(code).phrase})

    def _json(self, code: int, document: dict[str, Any]) -> None:
        body = (json.dumps(document) + "\n").encode()[:MAX_DOCUMENT_BYTES]
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, code: int, message: str) -> None:
        self._json(code, {"error": message})

    def _refuse_method(self) -> None:
        self.close_connection = True
        self._error(405, f"{self.command[:20]} is not allowed: this API is read-only (GET)")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        try:
            self._route()
        except _ClientGone:
            self.close_connection = True
        except Exception as err:
            self.close_connection = True
            log.debug("node API error", exc_info=True)
            # At most a line per 30 s (repeated=N): requests are a stranger's to repeat.
            name = type(err).__name__
            emit_repeated(log, "api-error", logging.WARNING, (name,), error=name)
            with suppress(Exception):
                self._error(500, "the node could not answer; try again")

    # -- routes ------------------------------------------------------------------------------

    def _route(self) -> None:
        if self.headers.get("Content-Length", "0") not in ("", "0") or self.headers.get(
            "Transfer-Encoding"
        ):
            self.close_connection = True
            self._error(413, "a request to this API carries no body")
            return
        parts = urllib.parse.urlsplit(self.path)
        try:
            query = urllib.parse.parse_qs(parts.query, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:  # more fields than that
            self.close_connection = True
            self._error(400, f"a request to this API has at most {MAX_QUERY_FIELDS} query fields")
            return
        if match := _JOB.fullmatch(parts.path):
            self._job(int(match.group(1)))
        elif match := _LOGS.fullmatch(parts.path):
            follow = query.get("follow", ["0"])[-1] in ("1", "true", "yes")
            self._logs(int(match.group(1)), follow)
        else:
            self._error(404, "no such endpoint: use /v1/jobs/{id} or /v1/jobs/{id}/logs")

    def _job(self, job_id: int) -> None:
        job = self.api.journal.job(job_id)
        if job is None:
            self._error(404, f"job {job_id} is unknown to this node")
            return
        txs = self.api.journal.txs(job_id=job_id)
        logs = self.api.jobdir_of(job_id).logs.is_dir()
        steps = self.api.journal.steps(job_id)
        self._json(200, job_view(job, txs, steps=steps, node=self.api.node, logs=logs))

    def _logs(self, job_id: int, follow: bool) -> None:
        job = self.api.journal.job(job_id)
        if job is None:
            self._error(404, f"job {job_id} is unknown to this node")
            return
        refusal = self._refusal(job_id, job.requester)
        if refusal:
            emit_repeated(log, "api-refused", logging.INFO, (), job=job_id, reason=refusal)
            self._error(403, refusal)
            return
        busy = self.api.open_stream(job.requester)
        if busy is not None:
            self.close_connection = True
            self._error(503, busy)
            return
        try:
            self._stream(job_id, follow)
        finally:
            self.api.close_stream(job.requester)

    def _refusal(self, job_id: int, requester: str) -> str | None:
        """Why this request may not read the job's logs (None: it may)."""
        signature = self.headers.get(SIGNATURE_HEADER, "").strip()
        stamp = self.headers.get(TIMESTAMP_HEADER, "").strip()
        if not signature or not stamp:
            return (
                f"only job {job_id}'s requester may read its logs: sign the logs message "
                f"(EIP-191) and send {SIGNATURE_HEADER} and {TIMESTAMP_HEADER}"
            )
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            return f"{TIMESTAMP_HEADER} must be a unix time in seconds"
        drift = int(stamp) - time.time()
        if abs(drift) > REPLAY_WINDOW_S:
            return (
                f"the signed timestamp is {abs(drift):.0f} s from this node's clock (at most "
                f"{REPLAY_WINDOW_S} s): sign again with the current time"
            )
        node = self.api.node
        message = logs_message(
            job_id,
            market=node["market"],
            chain_id=node["chain_id"],
            provider=node["account"],
            timestamp=int(stamp),
        )
        signer = recover_signer(message, signature[:200])
        if signer is None or signer.lower() != requester.lower():
            return f"the signature is not by job {job_id}'s requester; only they may read its logs"
        return None

    # -- the log stream ----------------------------------------------------------------------

    def _stream(self, job_id: int, follow: bool) -> None:
        jobdir = self.api.jobdir_of(job_id)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", LOGS_CONTENT_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        job = self.api.journal.job(job_id)
        assert job is not None
        out = _Chunks(self.wfile)
        out.record({"job_id": job_id, "step": str(job.step), "follow": follow})
        if job.step in _NOT_RUN_STEPS:
            out.record({"end": f"the job is {job.step} on this node: no container of it ran here"})
            out.close()
            return
        with LogTail(jobdir.logs, snapshot=not follow) as tail:
            self._pump(tail, out, job_id, jobdir, follow)

    def _pump(self, tail: LogTail, out: _Chunks, job_id: int, jobdir: JobDir, follow: bool) -> None:
        silent_since = time.monotonic()
        while True:
            for record in tail.read(final=not follow):
                out.record(record)
                silent_since = time.monotonic()
            end = self._end_of(job_id, jobdir, tail.opened, follow)
            if end is not None:
                for record in tail.read(final=True):
                    out.record(record)
                out.record({"end": end})
                out.close()
                return
            if time.monotonic() - silent_since >= HEARTBEAT_S:
                out.record({"alive": True})
                silent_since = time.monotonic()
            out.flush()
            self.api.stop.wait(_POLL_S)

    def _end_of(self, job_id: int, jobdir: JobDir, ran: bool, follow: bool) -> str | None:
        """Why the stream ends now (None: it goes on); ``ran``: its logs were seen."""
        if not follow:
            return "snapshot"
        if jobdir.logs.joinpath(CAPTURE_NAME).exists():
            return "the job's container ended"
        if self.api.stop.is_set():
            return "the node is stopping; ask again once it is back"
        job = self.api.journal.job(job_id)
        step = job.step if job is not None else None
        if step in _LIVE_STEPS:
            return None
        if jobdir.root.is_dir() and supervisor.is_running(jobdir):
            return None  # the container still runs (a job the chain took back is stopped)
        if ran:  # its supervisor is done and the node moved on (it may have purged the folder)
            return "the job's container ended"
        return f"the job is {step} on this node and no container of it runs"


class _Chunks:
    """HTTP/1.1 chunked transfer of JSON lines, a chunk per batch; a write that fails means
    the client went away."""

    def __init__(self, wfile: Any) -> None:
        self.wfile = wfile
        self.buffer = bytearray()

    def record(self, document: dict[str, Any]) -> None:
        self.buffer += (json.dumps(document) + "\n").encode()
        if len(self.buffer) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        data, self.buffer = bytes(self.buffer), bytearray()
        self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def close(self) -> None:
        self.flush()
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (OSError, ValueError) as err:
            raise _ClientGone from err
