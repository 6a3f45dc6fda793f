"""Downloads from addresses a counterpart named: HTTP(S) inputs pinned by sha256, gateways.

A job spec is hostile input, and so is every URL in it. Each download here is therefore

* **bounded**: at most ``max_bytes`` are read (a larger body stops at the first byte past the
  cap), with a connect and a read timeout;
* **verified before use**: a URL input is written to a temporary file and renamed into place
  only when its sha256 equals the digest the spec pinned; nothing unverified is ever staged;
* **aimed only where allowed**: :func:`check_fetch_target` refuses schemes other than http(s)
  and, unless the operator allows private addresses (``JOBMARKET_FETCH_PRIVATE=1``, e.g. on a
  test network), hosts that are or resolve to loopback, private, link-local or otherwise
  non-public addresses — a requester cannot make a provider probe its own network.

Every failure is one :class:`~jobmarket.errors.UserError` line naming the URL.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import urllib.parse
from pathlib import Path

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
        raise InvalidInput(
            f"URL {_shown(url)} points at a private or loopback address",
            f"only public hosts are fetched; the operator may allow private ones with "
            f"{FETCH_PRIVATE_ENV}=1",
        )


def http_client(timeout: float = DEFAULT_FETCH_TIMEOUT_S) -> httpx.Client:
    """A client that never follows redirects (each hop would need its own target check)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=False
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
    with http_client(timeout) as client:
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
