"""A STAND-IN FOR KUBO: a local HTTP server speaking the few RPC calls KuboStore uses.

No Kubo binary can be installed on this machine, so the Kubo backend is tested against this
fake. It answers like Kubo's ``/api/v0`` (POST only, 405 on GET, ``{"Message", "Code",
"Type": "error"}`` documents with HTTP 500 for command errors, ndjson for ``add``) and keeps
its blocks in an embedded store. ``faults`` lets a test inject what a real node or network
can do wrong: HTTP 500s, stalls past the client's timeout, corrupted block bytes, a response
cut short, and an ``add`` that reports a different CID.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jobmarket.content.cid import Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import ImportParams
from jobmarket.errors import UserError


class FakeKubo:
    """Runs the stand-in on 127.0.0.1 with a random port; use as a context manager."""

    def __init__(self, root: Path) -> None:
        self.store = EmbeddedStore(root, fsync=False)
        self.faults: dict[str, list[str]] = {}
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(405, b"405 - Method Not Allowed", "text/plain")

            def do_POST(self) -> None:
                fake._handle(self)

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> FakeKubo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, command: str, *faults: str) -> None:
        """Queue faults for the next calls of ``command`` (one per call, in order)."""
        self.faults.setdefault(command, []).extend(faults)

    # -- request handling --------------------------------------------------------------------

    def _handle(self, request) -> None:
        url = urllib.parse.urlsplit(request.path)
        command = url.path.removeprefix("/api/v0/")
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else self._read_chunked(request)
        self.calls.append(command)
        queued = self.faults.get(command)
        fault = queued.pop(0) if queued else None
        if fault == "http500":
            request._send(500, b"internal server error", "text/plain")
            return
        if fault == "stall":
            time.sleep(2.0)
        try:
            status, payload, content_type = self._dispatch(command, query, request, body)
        except UserError as err:
            status, content_type = 500, "application/json"
            payload = json.dumps({"Message": err.problem, "Code": 0, "Type": "error"}).encode()
        if fault == "truncate" and status == 200:
            payload = payload[: len(payload) // 2]  # a stream cut short (Kubo: trailer error)
        if fault == "corrupt" and status == 200:
            payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
        if fault == "wrong-cid" and status == 200:
            lines = [json.loads(line) for line in payload.splitlines()]
            lines[-1]["Hash"] = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
            payload = b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"
        request._send(status, payload, content_type)

    @staticmethod
    def _read_chunked(request) -> bytes:
        if request.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        out = bytearray()
        while True:
            size = int(request.rfile.readline().strip(), 16)
            if size == 0:
                request.rfile.readline()
                return bytes(out)
            out += request.rfile.read(size)
            request.rfile.readline()

    def _dispatch(self, command: str, query: dict[str, str], request, body: bytes):
        if command == "version":
            return 200, json.dumps({"Version": "0.0.0-fake"}).encode(), "application/json"
        if command == "block/get":
            return 200, self.store.get_block(Cid.parse(query["arg"])), "text/plain"
        if command == "block/stat":
            cid = Cid.parse(query["arg"])
            if not self.store.has(cid):
                raise UserError("block was not found locally (offline): ipld: could not find")
            return 200, json.dumps({"Key": str(cid)}).encode(), "application/json"
        if command == "pin/add":
            self.store.pin(Cid.parse(query["arg"]))
            return 200, json.dumps({"Pins": [query["arg"]]}).encode(), "application/json"
        if command == "pin/rm":
            try:
                self.store.unpin(Cid.parse(query["arg"]))
            except UserError:
                raise UserError("not pinned or pinned indirectly") from None
            return 200, json.dumps({"Pins": [query["arg"]]}).encode(), "application/json"
        if command == "pin/ls":
            keys = {str(pin): {"Type": "recursive"} for pin in self.store.pins()}
            return 200, json.dumps({"Keys": keys}).encode(), "application/json"
        if command == "add":
            return self._add(query, request.headers["Content-Type"], body)
        if command == "dag/export":
            with tempfile.TemporaryDirectory() as scratch:
                car = Path(scratch) / "export.car"
                self.store.export_car(Cid.parse(query["arg"]), car)
                return 200, car.read_bytes(), "application/vnd.ipld.car"
        if command == "dag/import":
            parts = _multipart(request.headers["Content-Type"], body)
            with tempfile.NamedTemporaryFile(suffix=".car") as car:
                car.write(parts[0][2])
                car.flush()
                roots = self.store.import_car(car.name, pin_roots=query.get("pin-roots") == "true")
            lines = [{"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": ""}} for root in roots]
            return 200, "\n".join(json.dumps(line) for line in lines).encode(), "application/json"
        return 404, b"404 page not found", "text/plain"

    def _add(self, query: dict[str, str], content_type: str, body: bytes):
        params = ImportParams(
            cid_version=int(query.get("cid-version", "0")),
            raw_leaves=query.get("raw-leaves") == "true",
            chunk_size=int(query.get("chunker", "size-262144").removeprefix("size-")),
            max_links=int(query.get("max-file-links", "174")),
            hidden=True,  # Kubo's client filters hidden files before sending them
        )
        with tempfile.TemporaryDirectory() as scratch:
            top = None
            for name, kind, data in _multipart(content_type, body):
                path = Path(scratch) / name
                top = top or path
                if kind == "application/x-directory":
                    path.mkdir(parents=True, exist_ok=True)
                elif kind == "application/symlink":
                    os.symlink(data, path)
                else:
                    path.write_bytes(data)
            assert top is not None
            cid = self.store.add_path(top, pin=query.get("pin") == "true", params=params)
        line = {"Name": top.name, "Hash": str(cid), "Size": "0"}
        return 200, (json.dumps(line) + "\n").encode(), "application/x-ndjson"


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str, bytes]]:
    """(unescaped file name, content type, data) of each part, as Kubo's parser reads them."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        disposition = headers["Content-Disposition"]
        filename = disposition.split('filename="', 1)[1].rsplit('"', 1)[0]
        parts.append(
            (
                urllib.parse.unquote_plus(filename),
                headers.get("Content-Type", "application/octet-stream"),
                data.removesuffix(b"\r\n"),
            )
        )
    return parts
