"""``HOST:PORT`` listen addresses and the small HTTP listener the node serves operators on.

``--metrics-listen`` (and any later operator endpoint) takes ``HOST:PORT``: an IPv4 address,
``[IPv6]`` or a host name, and a port (0: any free one, printed in the node's log). The
listener is a threaded ``http.server`` that answers GET on a fixed set of paths; each route
returns its status, content type and body, so handlers stay plain functions. Every listener
of the node (this one, the node API's) is a :class:`BoundedServer`: a bounded number of
connections at once, each with a read timeout.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click

from jobmarket.errors import InvalidInput, UserError

# A route answers (status, content type, body) for the request's headers.
Route = Callable[[Mapping[str, str]], tuple[int, str, bytes]]


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ListenAddress:
        """``127.0.0.1:9464``, ``[::1]:9464``, ``localhost:0``; InvalidInput otherwise."""
        host, sep, port_text = text.strip().rpartition(":")
        if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
            raise InvalidInput(
                f"{text!r} is not HOST:PORT", "write e.g. 127.0.0.1:9464 (port 0: any free port)"
            )
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise InvalidInput(
                    f"{text!r}: {host!r} is not an IPv6 address", "write e.g. [::1]:9464"
                ) from None
        elif ":" in host:
            raise InvalidInput(
                f"{text!r} is not HOST:PORT", "write an IPv6 host in brackets: [::1]:9464"
            )
        return cls(host, int(port_text))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class ListenAddressType(click.ParamType):
    name = "HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, ListenAddress):
            return value
        try:
            return ListenAddress.parse(str(value))
        except InvalidInput as err:
            self.fail(err.message, param, ctx)


LISTEN_ADDRESS = ListenAddressType()


class BoundedServer(ThreadingHTTPServer):
    """A threaded server that serves at most :attr:`max_connections` connections at once (one
    thread each): beyond, a connection gets :attr:`busy_answer` (a 503) and is closed, so a
    stranger opening connections cannot give the node a thread and a descriptor each. Its
    handlers should set a socket ``timeout``, so that idle connections give their slot back."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    max_connections = 16
    busy_answer = (b"text/plain; charset=utf-8", b"busy: too many connections; try again\n")

    def server_activate(self) -> None:
        self.slots = threading.BoundedSemaphore(self.max_connections)
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self._refuse_busy(request)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def _refuse_busy(self, request: socket.socket) -> None:
        kind, body = self.busy_answer
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + kind.decode() + "\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
        )
        try:
            request.settimeout(1.0)
            request.sendall(head.encode() + body)
        except OSError:
            pass


#: Seconds a connection to the operator listener may stay silent before it is closed.
OPERATOR_TIMEOUT_S = 10.0


class HttpListener:
    """A bound HTTP listener serving ``routes`` (GET only) from a daemon thread."""

    def __init__(self, address: ListenAddress, routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        handler = _handler_for(self.routes)
        server_class = type("Server", (BoundedServer,), {"address_family": family})
        try:
            self._server = server_class((address.host, address.port), handler)
        except OSError as err:
            raise UserError(
                f"cannot listen on {address} ({err.strerror or err})",
                "choose another HOST:PORT (a free port, an address of this machine)",
            ) from None
        host, port = self._server.server_address[:2]
        self.address = ListenAddress(str(host), int(port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"http-{self.address}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> HttpListener:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _handler_for(routes: Mapping[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "provider-node"
        timeout = OPERATOR_TIMEOUT_S  # an idle connection gives its slot back

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                status, kind, body = 404, "text/plain; charset=utf-8", b"not found\n"
            else:
                try:
                    status, kind, body = route(self.headers)
                except Exception as err:  # a handler's bug must not kill the listener
                    status, kind = 500, "text/plain; charset=utf-8"
                    body = f"internal error: {type(err).__name__}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds: no access log on the node's stderr

    return Handler
