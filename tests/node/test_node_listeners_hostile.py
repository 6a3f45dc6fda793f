"""The node's operator listener (``--metrics-listen``: ``/metrics``, ``/healthz``) against a
stranger who opens connections and sends nothing (adversarial tier; the real listener on
loopback, real sockets). Bound to ``0.0.0.0`` (as in a Kubernetes pod) anyone can reach it; it
must not give each connection a thread and a descriptor of the node's for ever.
"""

from __future__ import annotations

import socket
import threading

import httpx

from provider_node.context.listen import BoundedServer, HttpListener, ListenAddress

IDLE_CONNECTIONS = 200


def test_idle_connections_do_not_give_the_node_a_thread_each() -> None:
    listener = HttpListener(
        ListenAddress("127.0.0.1", 0), {"/healthz": lambda headers: (200, "text/plain", b"ok\n")}
    ).start()
    before = threading.active_count()
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", listener.address.port), timeout=10))
        # Each connection the server took is handled by a thread; wait until it took them all.
        answered = [raw.recv(1024) for raw in idle[BoundedServer.max_connections :]]
        threads = threading.active_count() - before
    finally:
        for raw in idle:
            raw.close()
    assert threads <= BoundedServer.max_connections + 1, threads
    assert all(answer.startswith(b"HTTP/1.1 503") for answer in answered)  # refused at once
    response = httpx.get(f"{listener.url}/healthz", timeout=10)  # slots given back
    listener.close()
    assert response.status_code == 200 and response.text == "ok\n"
