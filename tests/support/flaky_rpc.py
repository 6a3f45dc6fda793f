"""An HTTP relay in front of anvil that behaves like a bad network: FAULT INJECTION.

anvil itself never resets a connection or loses a response, so this stand-in sits between a
client and the real anvil and, by a seeded coin, resets a share of connections before the
request reaches anvil (``reset_ratio``) and, for the methods named in ``drop_methods``, lets a
share of requests reach anvil but closes the connection instead of answering
(``drop_ratio``): the transaction was sent, the client never heard so. Everything else is
forwarded unchanged, so the chain behind it is the real one.

Counts of what it did are kept in :attr:`FlakyRpcRelay.counts` for the tests' assertions.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
from collections import Counter
from http.client import HTTPConnection


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_request(stream) -> tuple[bytes, dict[str, str], bytes] | None:
    """One HTTP/1.1 request (request line, headers, body by Content-Length); None at EOF."""
    line = stream.readline(65537)
    if not line:
        return None
    headers: dict[str, str] = {}
    while True:
        header = stream.readline(65537)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0") or 0))
    return line, headers, body


def _methods(body: bytes) -> set[str]:
    try:
        document = json.loads(body)
    except ValueError:
        return set()
    calls = document if isinstance(document, list) else [document]
    return {str(call.get("method")) for call in calls if isinstance(call, dict)}


class FlakyRpcRelay:
    """A relay on 127.0.0.1 in front of ``127.0.0.1:target_port`` that injects RPC faults."""

    def __init__(
        self,
        target_port: int,
        *,
        reset_ratio: float = 0.0,
        drop_ratio: float = 0.0,
        drop_methods: tuple[str, ...] = ("eth_sendRawTransaction",),
        seed: int = 0,
    ) -> None:
        self.target_port = target_port
        self.reset_ratio = reset_ratio
        self.drop_ratio = drop_ratio
        self.drop_methods = set(drop_methods)
        self.port = _free_port()
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FlakyRpcRelay:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _coin(self, ratio: float) -> bool:
        with self._lock:
            return ratio > 0 and self._random.random() < ratio

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = HTTPConnection("127.0.0.1", self.target_port, timeout=60)
        stream = client.makefile("rb")
        try:
            while True:
                request = _read_request(stream)
                if request is None:
                    break
                line, headers, body = request
                if self._coin(self.reset_ratio):
                    self.counts["reset"] += 1
                    _reset(client)
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                upstream.request(
                    method, path, body, {"Content-Type": headers.get("content-type", "")}
                )
                response = upstream.getresponse()
                answer = response.read()
                if self._methods_dropped(body) and self._coin(self.drop_ratio):
                    self.counts["dropped"] += 1
                    _reset(client)
                    return
                self.counts["forwarded"] += 1
                head = (
                    f"HTTP/1.1 {response.status} {response.reason}\r\n"
                    f"Content-Type: {response.getheader('Content-Type', 'application/json')}\r\n"
                    f"Content-Length: {len(answer)}\r\n\r\n"
                )
                client.sendall(head.encode("latin-1") + answer)
        except OSError:
            pass
        finally:
            upstream.close()
            with contextlib.suppress(OSError):
                client.close()

    def _methods_dropped(self, body: bytes) -> bool:
        return bool(self.drop_methods & _methods(body))
