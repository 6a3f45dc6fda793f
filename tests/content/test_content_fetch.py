"""Downloads a counterpart named: URL inputs pinned by sha256 and trustless-gateway reads.

A real HTTP server on loopback serves the files; the gateway is Kubo's own (a real daemon).
The one stand-in is a gateway that lies about a block's bytes, a fault Kubo cannot be made to
produce; it is labelled where it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.kubo

from support.kubo import running_kubo

from jobmarket.content.cid import Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.fetch import fetch_pinned
from jobmarket.content.gateway import GatewayStore, import_from_gateway
from jobmarket.errors import IntegrityError, InvalidInput, NotFound, Unreachable

BODY = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(4096))  # 128 KiB
DIGEST = hashlib.sha256(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    served = 0  # requests answered, all servers together

    def do_GET(self) -> None:
        _Handler.served += 1
        status, headers, body = self.routes.get(self.path.split("?")[0], (404, {}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve(routes: dict[str, tuple[int, dict[str, str], bytes]]) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[str]:
    routes = {
        "/data.bin": (200, {}, BODY),
        "/moved": (302, {"Location": "/data.bin"}, b""),
    }
    with _serve(routes) as url:
        yield url


def test_a_url_input_is_kept_only_when_its_sha256_matches(site, tmp_path):
    target = fetch_pinned(f"{site}/data.bin", DIGEST, tmp_path / "x", max_bytes=len(BODY),
                          allow_private=True)  # fmt: skip
    assert target.read_bytes() == BODY
    with pytest.raises(IntegrityError, match=f"has sha256 {DIGEST}, not the {'0' * 64}"):
        fetch_pinned(f"{site}/data.bin", "0" * 64, tmp_path / "y", max_bytes=len(BODY),
                     allow_private=True)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # nothing unverified left


def test_a_download_stops_at_its_size_cap_and_leaves_nothing(site, tmp_path):
    with pytest.raises(InvalidInput, match=f"is {len(BODY)} bytes, more than the 1000 allowed"):
        fetch_pinned(f"{site}/data.bin", DIGEST, tmp_path / "x", max_bytes=1000,
                     allow_private=True)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_missing_moved_and_unreachable_urls_are_one_line_each(site, tmp_path):
    with pytest.raises(NotFound, match="answered 404"):
        fetch_pinned(f"{site}/gone", DIGEST, tmp_path / "x", max_bytes=10**6, allow_private=True)
    with pytest.raises(Unreachable, match="answered HTTP 302"):  # redirects are not followed
        fetch_pinned(f"{site}/moved", DIGEST, tmp_path / "x", max_bytes=10**6, allow_private=True)
    with pytest.raises(Unreachable, match="cannot be fetched"):
        fetch_pinned("http://127.0.0.1:9/x", DIGEST, tmp_path / "x", max_bytes=10,
                     allow_private=True)  # fmt: skip


def test_private_and_loopback_targets_are_refused_unless_the_operator_allows_them(site, tmp_path):
    with pytest.raises(InvalidInput, match="private or loopback address"):
        fetch_pinned(f"{site}/data.bin", DIGEST, tmp_path / "x", max_bytes=10**6,
                     allow_private=False)  # fmt: skip
    with pytest.raises(InvalidInput, match="http:// or https://"):
        fetch_pinned("file:///etc/passwd", DIGEST, tmp_path / "x", max_bytes=10**6)


def test_a_host_that_rebinds_to_loopback_after_the_check_is_refused_at_connect_time(
    tmp_path, monkeypatch
):
    """DNS rebinding: the name resolves to a public address when checked, then to loopback
    when the socket connects. STAND-IN: the resolver is replaced (a fault injection; no DNS
    server can be made to answer so here); the server is real, on loopback."""
    asked: list[str] = []
    routes = {"/data.bin": (200, {}, BODY)}
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        asked.append(host)
        address = "93.184.215.14" if len(asked) == 1 else "127.0.0.1"  # public, then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    with _serve(routes) as url:
        port = url.rsplit(":", 1)[1]
        seen_before = _Handler.served
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        with pytest.raises(InvalidInput, match="private or loopback address"):
            fetch_pinned(f"http://rebind.example:{port}/data.bin", DIGEST, tmp_path / "x",
                         max_bytes=10**6, allow_private=False)  # fmt: skip
        assert len(asked) == 2  # checked once as public, refused at the connection
        assert _Handler.served == seen_before  # the loopback server never got the request
    assert list(tmp_path.iterdir()) == []


def test_kubos_gateway_serves_blocks_and_cars_every_block_verified(tmp_path):
    with running_kubo(tmp_path / "kubo") as kubo:
        root = Cid.parse(kubo.ipfs("add", "-Q", "--cid-version=1", input=BODY * 4).strip())
        with GatewayStore(kubo.gateway_url, allow_private=True) as gateway:
            assert b"".join(gateway.cat(root)) == BODY * 4
        store = EmbeddedStore(tmp_path / "local")
        import_from_gateway(store, kubo.gateway_url, root, max_bytes=len(BODY) * 4,
                            allow_private=True)  # fmt: skip
        assert store.has(root)
        assert b"".join(store.cat(root)) == BODY * 4


def test_a_gateway_that_lies_about_a_block_is_caught(tmp_path):
    cid = EmbeddedStore(tmp_path / "s").add_bytes(b"the real bytes\n")
    # Stand-in (a fault Kubo's gateway cannot be made to produce): other bytes for the CID.
    with _serve({f"/ipfs/{cid}": (200, {}, b"forged bytes\n")}) as url:
        gateway = GatewayStore(url, allow_private=True)
        with gateway, pytest.raises(IntegrityError, match=f"sent bytes for block {cid}"):
            gateway.get_block(cid)
