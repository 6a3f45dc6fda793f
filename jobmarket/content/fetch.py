"""Downloads from addresses a counterpart named: HTTP(S) inputs pinned by sha256, gateways.

A job spec is hostile input, and so is every URL in it. Each download here is therefore

* **bounded**: at most ``max_bytes`` are read (a larger body stops at the first byte past the
  cap), with a connect and a read timeout;
* **verified before use**: a URL input is written to a temporary file and renamed into place
  only when its sha256 equals the digest the spec pinned; nothing unverified is ever staged;
* **aimed only where allowed**: :func:`check_fetch_target` refuses schemes other than http(s)
  and, unless the operator allows private addresses (``JOBMARKET_FETCH_PRIVATE=1``, e.g. on a
  test network), hosts that are or resolve to loopback, private, link-local or otherwise
  non-public addresses — a requester cannot make a provider probe its own network. The check
  is made again at connect time, on the very address the socket connects to
  (:class:`_PublicOnlyBackend`): a host whose DNS answer changes between the check and the
  connection (DNS rebinding) is refused there too.

Every failure is one :class:`~jobmarket.errors.UserError` line naming the URL.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import urllib.parse
from pathlib import Path

import httpcore
import httpx

from jobmarket.errors import IntegrityError, InvalidInput, NotFound, Unreachable
from jobmarket.terminal import printable

FETCH_PRIVATE_ENV = "JOBMARKET_FETCH_PRIVATE"
DEFAULT_FETCH_TIMEOUT_S = 30.0
_CHUNK = 256 * 1024
MAX_URL_BYTES = 2048


def private_targets_allowed() -> bool:
    """True when the operator allows fetching from private and loopback addresses."""
    return os.environ.get(FETCH_PRIVATE_ENV, "").strip() in ("1", "true", "yes")


def _shown(url: str) -> str:
    return printable(url[:200])


def url_problem(url: object) -> str | None:
    """Why ``url`` cannot name a download (scheme, host, length, characters), or None."""
    if not isinstance(url, str):
        return "must be a URL"
    if len(url.encode()) > MAX_URL_BYTES:
        return f"must be at most {MAX_URL_BYTES} bytes"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "must not contain spaces or control characters"
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parsed.hostname:
        return "must name a host"
    if parsed.username or parsed.password:
        return "must not carry a user name or password"
    return None


def _non_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


def check_fetch_target(url: str, *, allow_private: bool | None = None) -> None:
    """Refuse a URL this machine must not fetch (see the module docstring)."""
    problem = url_problem(url)
    if problem:
        raise InvalidInput(f"URL {_shown(url)!r} {problem}", "give an http(s) URL")
    if allow_private is None:
        allow_private = private_targets_allowed()
    if allow_private:
        return
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise Unreachable(f"host of {_shown(url)} does not resolve", "check the URL") from None
    if any(_non_public(str(info[4][0])) for info in infos):
        raise _private_target(_shown(url))


def _private_target(what: str) -> InvalidInput:
    return InvalidInput(
        f"URL {what} points at a private or loopback address",
        f"only public hosts are fetched; the operator may allow private ones with "
        f"{FETCH_PRIVATE_ENV}=1",
    )


class _PrivateAddress(httpcore.ConnectError):
    """Raised at connect time: the host resolved to a non-public address just now."""


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Connects only to public addresses, checked on the address the socket connects to: a
    host whose DNS answer changed since :func:`check_fetch_target` (DNS rebinding) is refused
    before a byte is sent. TLS still verifies the host name (the origin is unchanged)."""

    def connect_tcp(  # type: ignore[override]
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as err:
            raise httpcore.ConnectError(f"{host} does not resolve") from err
        addresses = [str(info[4][0]) for info in infos]
        if not addresses or any(_non_public(address) for address in addresses):
            raise _PrivateAddress(f"{host} resolves to a private or loopback address")
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with :class:`_PublicOnlyBackend` as its connection pool's backend
    (httpx has no public hook for the backend; the pool is rebuilt with the same TLS setup)."""

    def __init__(self) -> None:
        super().__init__()
        self._pool = httpcore.ConnectionPool(
            ssl_context=self._pool._ssl_context, network_backend=_PublicOnlyBackend()
        )


def public_only_transport(allow_private: bool | None = None) -> httpx.HTTPTransport | None:
    """The transport of every client that reaches an address a counterpart named: it connects
    only to public addresses, checked at connect time (None, httpx's own, when private
    targets are allowed)."""
    if allow_private is None:
        allow_private = private_targets_allowed()
    return None if allow_private else _GuardedTransport()


def http_client(
    timeout: float = DEFAULT_FETCH_TIMEOUT_S, *, allow_private: bool | None = None
) -> httpx.Client:
    """A client that never follows redirects (each hop would need its own target check) and,
    unless private targets are allowed, connects only to public addresses."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        transport=public_only_transport(allow_private),
    )


def stream_to_file(
    client: httpx.Client,
    url: str,
    target: Path,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
) -> str:
    """GET ``url`` into ``target`` (at most ``max_bytes``); returns the body's sha256 hex."""
    digest = hashlib.sha256()
    written = 0
    try:
        with client.stream("GET", url, headers=headers) as answer:
            if answer.status_code == 404:
                raise NotFound(f"{_shown(url)} answered 404 (not found)", "check the URL")
            if answer.status_code != 200:
                raise Unreachable(
                    f"{_shown(url)} answered HTTP {answer.status_code}", "check the URL"
                )
            declared = answer.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise InvalidInput(
                    f"{_shown(url)} is {int(declared)} bytes, more than the {max_bytes} allowed",
                    "raise resources.disk_mb or use a smaller input",
                )
            with open(target, "wb") as out:
                for chunk in answer.iter_bytes(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise InvalidInput(
                            f"{_shown(url)} sent more than the {max_bytes} bytes allowed",
                            "raise resources.disk_mb or use a smaller input",
                        )
                    digest.update(chunk)
                    out.write(chunk)
    except httpx.TimeoutException:
        target.unlink(missing_ok=True)
        raise Unreachable(f"{_shown(url)} did not answer in time", "try again later") from None
    except httpx.ConnectError as err:
        target.unlink(missing_ok=True)
        if isinstance(err.__cause__ or err.__context__, _PrivateAddress):
            raise _private_target(_shown(url)) from None
        raise Unreachable(
            f"{_shown(url)} cannot be fetched ({printable(type(err).__name__)})",
            "check that the host answers",
        ) from None
    except httpx.HTTPError as err:
        target.unlink(missing_ok=True)
        raise Unreachable(
            f"{_shown(url)} cannot be fetched ({printable(type(err).__name__)})",
            "check that the host answers",
        ) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def fetch_pinned(
    url: str,
    sha256: str,
    target: Path,
    *,
    max_bytes: int,
    allow_private: bool | None = None,
    timeout: float = DEFAULT_FETCH_TIMEOUT_S,
) -> Path:
    """Download ``url`` to ``target`` only if its bytes hash to ``sha256`` (else nothing).

    A file already at ``target`` whose digest matches is reused (no second download).
    """
    if target.is_file() and _file_sha256(target) == sha256:
        return target
    check_fetch_target(url, allow_private=allow_private)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    with http_client(timeout, allow_private=allow_private) as client:
        got = stream_to_file(client, url, partial, max_bytes=max_bytes)
    if got != sha256:
        partial.unlink(missing_ok=True)
        raise IntegrityError(
            f"{_shown(url)} has sha256 {got}, not the {sha256} the job pinned",
            "the file changed or the digest is wrong; fix the URL or the digest",
        )
    os.replace(partial, target)
    return target


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
