"""A Kubo node as content store, over its RPC API (``/api/v0``, POST only) with httpx.

Kubo is trusted for availability, never for bytes:

* reads fetch each block with ``block/get`` and hash it against the CID we asked for, then
  check the UnixFS structure ourselves (:mod:`jobmarket.content.reader`); a lying or
  corrupted node yields :class:`~jobmarket.errors.IntegrityError`, never wrong content;
* adds compute the CID locally with our importer first and pass ``cid-version``,
  ``raw-leaves`` and ``chunker=size-N`` explicitly (Kubo's config profiles change defaults);
  if Kubo reports a different root, the add fails instead of recording a CID we cannot
  reproduce;
* CAR imports are parsed and every block verified locally before Kubo sees them.

Transport failures get bounded retries with exponential backoff (connection refused or reset,
HTTP 502/503/504 and 500s that are not Kubo's own error answers); a call that hits its timeout
fails at once. Every failure is one :class:`~jobmarket.errors.UserError` line naming the API.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from jobmarket.content import ipld
from jobmarket.content.blockstore import MAX_BLOCK_SIZE
from jobmarket.content.car import open_car
from jobmarket.content.cid import RAW, Cid
from jobmarket.content.importer import (
    EntryCallback,
    Importer,
    ImportParams,
    directory_entries,
)
from jobmarket.content.ipld import AnyCid, parse_any
from jobmarket.content.store import ContentStore, check_hold_name, link_target
from jobmarket.errors import IntegrityError, InvalidInput, NotFound, Unreachable, UserError
from jobmarket.fileio import partial_sibling
from jobmarket.terminal import printable

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
_RETRY_STATUS = {500, 502, 503, 504}
# The MFS folder under which holds live (see KuboStore.hold).
_HOLDS_FOLDER = "/jobmarket-holds"
_MULTIADDR = re.compile(
    r"^/(?P<proto>ip4|ip6|dns|dns4|dns6)/(?P<host>[^/]+)/tcp/(?P<port>\d+)(?P<scheme>/https?)?/?$"
)


class KuboError(UserError):
    """Kubo understood the request and refused it (its own error message is passed on)."""


def api_base_url(api: str) -> str:
    """``http://host:port`` from a URL or Kubo's multiaddr form (``/ip4/…/tcp/5001``)."""
    text = api.strip().rstrip("/")
    match = _MULTIADDR.match(text)
    if match:
        host = match["host"]
        if match["proto"] == "ip6":
            host = f"[{host}]"
        scheme = (match["scheme"] or "/http").lstrip("/")
        return f"{scheme}://{host}:{match['port']}"
    if "://" not in text:
        text = "http://" + text
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(
            f"IPFS_API={api!r} is not an address",
            "use e.g. http://127.0.0.1:5001 or /ip4/127.0.0.1/tcp/5001",
        )
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path.removesuffix('/api/v0')}"


class KuboStore(ContentStore):
    """Content on a Kubo node, read trustlessly."""

    def __init__(
        self,
        api: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF_S,
    ) -> None:
        self.base_url = api_base_url(api)
        self.location = self.base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._client = httpx.Client(
            base_url=f"{self.base_url}/api/v0/",
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    def close(self) -> None:
        self._client.close()

    # -- transport ---------------------------------------------------------------------------

    def _unreachable(self, problem: str) -> Unreachable:
        return Unreachable(
            f"IPFS API at {self.base_url} {problem}", "check that Kubo is running or unset IPFS_API"
        )

    def _request(
        self,
        command: str,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        *,
        upload: list[Part] | None = None,
        limit: int | None = None,
        into: BinaryIO | None = None,
    ) -> bytes:
        """POST ``command`` and return the body (at most ``limit`` bytes), retrying transients.

        ``upload`` parts are streamed as multipart/form-data, one file open at a time, and
        replayed from the start on a retry. With ``into`` the body is streamed into that file
        instead (emptied again before a retry) and ``b""`` is returned.
        """
        attempts = 1 + self.retries
        last_problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            if into is not None:
                into.seek(0)
                into.truncate()
            headers = {}
            content = None
            if upload is not None:
                boundary = secrets.token_hex(16)
                headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
                content = _multipart(upload, boundary)
            try:
                with self._client.stream(
                    "POST", command, params=params, content=content, headers=headers
                ) as resp:
                    if resp.status_code == 200:
                        return self._read_body(resp, command, limit, into)
                    body = resp.read()[:4096]
            except httpx.TimeoutException:
                raise self._unreachable(f"did not answer within {self.timeout:g} s") from None
            except httpx.TransportError as err:
                detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                last_problem = f"is unreachable ({detail})"
                continue
            message = _kubo_message(body)
            if resp.status_code == 500 and message is not None:
                raise KuboError(f"IPFS node at {self.base_url} refused {command}: {message}")
            if resp.status_code in _RETRY_STATUS:
                last_problem = f"answered HTTP {resp.status_code} to {command}"
                continue
            if resp.status_code in (404, 405):
                raise InvalidInput(
                    f"{self.base_url} answered HTTP {resp.status_code} to /api/v0/{command}",
                    "IPFS_API must point at Kubo's RPC API (port 5001), not a gateway",
                )
            detail = f": {message}" if message else ""
            raise KuboError(
                f"IPFS node at {self.base_url} answered HTTP {resp.status_code} "
                f"to {command}{detail}"
            )
        raise self._unreachable(f"{last_problem} after {attempts} attempts")

    def _read_body(
        self, resp: httpx.Response, command: str, limit: int | None, into: BinaryIO | None
    ) -> bytes:
        body = bytearray()
        for piece in resp.iter_bytes():
            if into is not None:
                into.write(piece)
                continue
            body += piece
            if limit is not None and len(body) > limit:
                raise IntegrityError(
                    f"IPFS node at {self.base_url} sent more than {limit} bytes for {command}",
                    "the node is misbehaving; do not use it",
                )
        return bytes(body)

    def _json_object(self, body: bytes, command: str) -> dict[str, Any]:
        lines = self._json_lines(body, command)
        if len(lines) != 1 or not isinstance(lines[0], dict):
            raise KuboError(f"IPFS node at {self.base_url} sent an unreadable answer to {command}")
        return lines[0]

    def _json_lines(self, body: bytes, command: str) -> list[dict[str, Any]]:
        try:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError:
            raise KuboError(
                f"IPFS node at {self.base_url} sent an unreadable answer to {command}"
            ) from None

    # -- node --------------------------------------------------------------------------------

    def version(self) -> str:
        answer = self._json_lines(self._request("version"), "version")
        return str(answer[-1].get("Version", "unknown")) if answer else "unknown"

    def identity(self) -> PeerInfo:
        """This node's peer id and the addresses it listens on (``/…/p2p/ID``), from ``id``."""
        answer = self._json_object(self._request("id"), "id")
        peer_id = answer.get("ID")
        addresses = answer.get("Addresses") or []
        if not isinstance(peer_id, str) or not isinstance(addresses, list):
            raise KuboError(f"IPFS node at {self.base_url} sent an unreadable answer to id")
        return PeerInfo(peer_id, tuple(str(address) for address in addresses))

    def swarm_connect(self, addresses: list[str]) -> None:
        """Connect to peers at ``/ip4/…/tcp/…/p2p/ID`` addresses (what :meth:`identity` lists).

        Addresses come from the other party (a capability document, a job spec), so each is
        checked to be one multiaddr naming a peer before Kubo sees it.
        """
        for address in addresses:
            check_peer_address(address)
        if addresses:
            self._request("swarm/connect", [("arg", address) for address in addresses])

    def swarm_peers(self) -> list[str]:
        """Peer ids this node is connected to."""
        answer = self._json_object(self._request("swarm/peers"), "swarm/peers")
        return [str(peer.get("Peer")) for peer in answer.get("Peers") or []]

    # -- writing -----------------------------------------------------------------------------

    def _add_params(self, params: ImportParams, pin: bool) -> dict[str, str]:
        """Every ``add`` option that decides CIDs, explicit: a node's ``Import.*`` config (or a
        profile such as ``unixfs-v1-2025``) replaces any option a request leaves out."""
        return {
            "cid-version": str(params.cid_version),
            "raw-leaves": "true" if params.leaves_are_raw else "false",
            "chunker": f"size-{params.chunk_size}",
            "max-file-links": str(params.max_links),
            "max-directory-links": "0",  # no count limit: only the size decides HAMT sharding
            "trickle": "false",
            "empty-dirs": "true",
            "hash": "sha2-256",
            "inline": "false",
            "pin": "true" if pin else "false",
            "wrap-with-directory": "false",
            "progress": "false",
        }

    def _add(self, upload: list[Part], expected: Cid, params: ImportParams, pin: bool) -> Cid:
        body = self._request("add", self._add_params(params, pin), upload=upload)
        lines = [line for line in self._json_lines(body, "add") if "Hash" in line]
        if not lines:
            raise KuboError(f"IPFS node at {self.base_url} returned no CID for add")
        reported = Cid.parse(lines[-1]["Hash"])
        if reported.to_v1() != expected.to_v1():
            raise IntegrityError(
                f"Kubo stored the content as {reported} but its CID with chunker "
                f"size-{params.chunk_size}, {params.max_links} links per node and "
                f"cid-version {params.cid_version} is {expected}",
                "check the node's Import settings (config profiles such as unixfs-v1-2025 "
                "change CIDs); the content was not recorded",
            )
        return expected

    def add_bytes(
        self, data: bytes, *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        params = params or ImportParams()
        expected = Importer(params).add_bytes(data).cid
        return self._add([Part("data", _OCTETS, data=data)], expected, params, pin)

    def add_file(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        params = params or ImportParams()
        source = Path(path)
        expected = Importer(params).add_file(source).cid
        return self._add([Part(source.name, _OCTETS, path=source)], expected, params, pin)

    def add_symlink(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        params = params or ImportParams()
        target = link_target(path)
        expected = Importer(params).add_symlink(target).cid
        part = Part(Path(path).name, "application/symlink", data=os.fsencode(target))
        return self._add([part], expected, params, pin)

    def add_dir(
        self,
        path: str | os.PathLike[str],
        *,
        pin: bool = False,
        params: ImportParams | None = None,
        on_entry: EntryCallback | None = None,
    ) -> Cid:
        params = params or ImportParams()
        source = Path(path)
        if not source.is_dir():
            raise InvalidInput(f"{path} is not a folder")
        expected = Importer(params).add_directory(source, on_entry).cid
        parts = list(_directory_parts(source, params.hidden))
        return self._add(parts, expected, params, pin)

    def put_block(self, data: bytes, codec: int = RAW) -> Cid:
        """Store one block (``block/put``, sha2-256); the CID Kubo reports must be its hash."""
        if len(data) > MAX_BLOCK_SIZE:
            raise InvalidInput(f"a block holds at most {MAX_BLOCK_SIZE} bytes, got {len(data)}")
        expected = Cid.for_block(data, codec, version=1)
        query = {"cid-codec": expected.codec_name, "mhtype": "sha2-256", "mhlen": "32"}
        body = self._request("block/put", query, upload=[Part("block", _OCTETS, data=data)])
        answer = self._json_object(body, "block/put")
        reported = Cid.parse(str(answer.get("Key", "")))
        if reported.to_v1() != expected:
            raise IntegrityError(
                f"IPFS node at {self.base_url} stored a block as {reported}, but it is {expected}",
                "the node is misbehaving; do not use it",
            )
        return expected

    # -- reading -----------------------------------------------------------------------------

    def get_block(self, cid: Cid) -> bytes:
        if cid.verify(b""):
            # The empty block (an empty file's raw leaf, e.g. an empty stderr.log) is never
            # sent by Kubo's bitswap (seen with v0.43.1: a peer that has it times out), and
            # its bytes are known from the CID alone.
            return b""
        # Kubo searches the network for missing blocks; its own deadline (shorter than ours)
        # turns "nobody has it" into an answer instead of a silent client timeout.
        search = {"arg": str(cid), "timeout": self._kubo_deadline()}
        try:
            block = self._request("block/get", search, limit=MAX_BLOCK_SIZE)
        except KuboError as err:
            if "not found" in err.problem or "deadline exceeded" in err.problem:
                raise NotFound(
                    f"block {cid} is not available from the IPFS node at {self.base_url}",
                    "check the CID, or make sure a peer that has the content is online",
                ) from None
            raise
        if not cid.verify(block):
            raise IntegrityError(
                f"IPFS node at {self.base_url} sent bytes for block {cid} that do not match it",
                "the node is corrupted or malicious; do not use its content",
            )
        return block

    def _kubo_deadline(self) -> str:
        """Kubo's ``timeout`` option for searches: shorter than ours, so Kubo answers first."""
        return f"{max(1.0, self.timeout * 0.8):g}s"

    def has(self, cid: Cid) -> bool:
        try:
            self._request("block/stat", {"arg": str(cid), "offline": "true"})
        except KuboError:
            return False
        return True

    # -- pins and archives -------------------------------------------------------------------

    def pin(self, cid: Cid) -> None:
        # Kubo fetches missing blocks before pinning and waits for them indefinitely; its own
        # deadline turns "nobody has them" into an answer, as for block/get.
        search = {"arg": str(cid), "recursive": "true", "timeout": self._kubo_deadline()}
        try:
            self._request("pin/add", search)
        except KuboError as err:
            if "deadline exceeded" in err.problem:
                raise NotFound(
                    f"not every block of {cid} is available from the IPFS node at {self.base_url}",
                    "add the content to that node, or connect it to a peer that has it",
                ) from None
            raise

    def unpin(self, cid: Cid) -> None:
        try:
            self._request("pin/rm", {"arg": str(cid), "recursive": "true"})
        except KuboError as err:
            if "not pinned" in err.problem:
                raise NotFound(f"{cid} is not pinned on {self.base_url}") from None
            raise

    def pins(self) -> list[AnyCid]:
        body = self._request("pin/ls", {"type": "recursive"})
        pins: list[AnyCid] = []
        for line in self._json_lines(body, "pin/ls"):
            keys = line.get("Keys")
            if isinstance(keys, dict):
                pins.extend(parse_any(text) for text in keys)
            elif "Cid" in line:
                pins.append(parse_any(line["Cid"]))
        return pins

    # Holds are MFS folders (``/jobmarket-holds/NAME/0``, ``/1``, …): Kubo's GC keeps every
    # block reachable from the MFS root that is present, and each hold is its own entry, so
    # dropping one never unpins content that someone else pins or holds.
    def hold(self, name: str, roots: Sequence[AnyCid]) -> None:
        folder = f"{_HOLDS_FOLDER}/{check_hold_name(name)}"
        self.drop(name)
        self._request("files/mkdir", {"arg": folder, "parents": "true"})
        for index, root in enumerate(roots):
            # offline: the roots are here (just checked); a hold never starts a search
            copy = [("arg", f"/ipfs/{root}"), ("arg", f"{folder}/{index}"), ("offline", "true")]
            self._request("files/cp", copy)

    def drop(self, name: str) -> None:
        folder = f"{_HOLDS_FOLDER}/{check_hold_name(name)}"
        try:
            self._request("files/rm", {"arg": folder, "recursive": "true", "force": "true"})
        except KuboError as err:
            if "not exist" not in err.problem and "not found" not in err.problem:
                raise

    def held(self, prefix: str) -> list[str]:
        try:
            body = self._request("files/ls", {"arg": _HOLDS_FOLDER})
        except KuboError as err:
            if "not exist" in err.problem or "not found" in err.problem:
                return []
            raise
        entries = self._json_object(body, "files/ls").get("Entries") or []
        names = [entry.get("Name") for entry in entries if isinstance(entry, dict)]
        return sorted(n for n in names if isinstance(n, str) and n.startswith(prefix))

    def export_car(self, root: Cid, path: str | os.PathLike[str]) -> int:
        """``dag export`` of ``root``, kept only once every block is verified and the DAG is whole.

        Kubo reports a failure part-way through a stream only in an HTTP trailer, so a truncated
        export is recognised here: the header must name ``root`` and every linked block must be
        in the file.
        """
        target = Path(path)
        temporary = partial_sibling(target)
        try:
            with open(temporary, "w+b") as out:
                self._request("dag/export", {"arg": str(root)}, into=out)
            count = _check_whole_car(temporary, root, self.base_url)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return count

    def import_car(self, path: str | os.PathLike[str], *, pin_roots: bool = True) -> list[AnyCid]:
        source = Path(path)
        with open_car(source) as car:
            for _ in car.blocks():
                pass  # every block hashed against its CID before Kubo sees the file
        body = self._request(
            "dag/import",
            {"pin-roots": "true" if pin_roots else "false"},
            upload=[Part(source.name, "application/vnd.ipld.car", path=source)],
        )
        for line in self._json_lines(body, "dag/import"):
            error = (line.get("Root") or {}).get("PinErrorMsg")
            if error:
                raise KuboError(f"IPFS node at {self.base_url} could not pin a root: {error}")
        return car.roots


def _check_whole_car(path: Path, root: Cid, source: str) -> int:
    """Block count of a CAR that holds exactly the verified, complete DAG of ``root``."""
    present: set[bytes] = set()
    linked: set[bytes] = set()
    count = 0
    try:
        with open_car(path) as car:
            if car.roots != [root]:
                raise IntegrityError(f"it names the roots {car.roots}")
            for cid, block in car.blocks():  # each block hashed against its CID
                present.add(cid.multihash)
                linked.update(link.multihash for link in ipld.links_of(cid, block))
                count += 1
    except UserError as err:
        problem = err.problem.replace(f"{path} is not a valid CAR file: ", "")
        raise IntegrityError(
            f"IPFS node at {source} exported a damaged CAR for {root}: {problem}",
            "the node is misbehaving or lost blocks; check it, then export again",
        ) from None
    missing = (linked | {root.multihash}) - present
    if missing:
        raise IntegrityError(
            f"IPFS node at {source} exported an incomplete DAG for {root} "
            f"({len(missing)} linked blocks missing)",
            "make sure the node holds the whole DAG (ipfs pin add), then export again",
        )
    return count


def _kubo_message(body: bytes) -> str | None:
    """Kubo's error document is ``{"Message": …, "Code": …, "Type": "error"}``."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("Type") == "error":
        return str(document.get("Message", "")).strip() or "unknown error"
    return None


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A node's peer id and its listen addresses, each ending in ``/p2p/<peer id>``."""

    peer_id: str
    addresses: tuple[str, ...]


_PEER_ADDRESS = re.compile(
    r"/(ip4|ip6|dns|dns4|dns6)/[^/\s]{1,253}/(tcp|udp)/\d{1,5}"  # where
    r"(/[a-z0-9-]{1,32})*"  # transports such as /quic-v1 or /ws
    r"/p2p/[1-9A-HJ-NP-Za-km-z]{40,60}"  # the peer id (base58btc)
)
MAX_PEER_ADDRESS = 512


def check_peer_address(address: object) -> str:
    """``address`` if it is one multiaddr that names a peer (``…/p2p/<id>``), else InvalidInput."""
    if (
        not isinstance(address, str)
        or len(address) > MAX_PEER_ADDRESS
        or not _PEER_ADDRESS.fullmatch(address)
    ):
        shown = printable(str(address)[:80])
        raise InvalidInput(
            f"{shown!r} is not an IPFS peer address",
            "use a multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…",
        )
    return address


@dataclass(frozen=True, slots=True)
class Part:
    """One multipart field named ``file``: a folder, a symlink, bytes or a file on disk."""

    name: str
    content_type: str
    data: bytes = b""
    path: Path | None = None


_OCTETS = "application/octet-stream"
_STREAM_CHUNK = 256 * 1024


def _multipart(parts: list[Part], boundary: str) -> Iterator[bytes]:
    """A multipart/form-data body, streamed; file names URL-escaped as Kubo's client does.

    Names are escaped as the bytes they have on disk, so a name that is not UTF-8 reaches Kubo
    unchanged (Kubo's server unescapes it to the same bytes).
    """
    for part in parts:
        name = urllib.parse.quote_plus(os.fsencode(part.name), safe="")
        yield (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {part.content_type}\r\n\r\n"
        ).encode()
        if part.path is not None:
            with open(part.path, "rb") as stream:
                while piece := stream.read(_STREAM_CHUNK):
                    yield piece
        else:
            yield part.data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _directory_parts(root: Path, hidden: bool) -> Iterator[Part]:
    """Multipart fields for ``ipfs add -r``: each folder before its entries, names in order."""

    def walk(folder: Path, relative: str) -> Iterator[Part]:
        yield Part(relative, "application/x-directory")
        for entry in directory_entries(folder, hidden):
            child = f"{relative}/{entry.name}"
            if entry.is_symlink():
                target = os.fsencode(os.readlink(entry.path))
                yield Part(child, "application/symlink", data=target)
            elif entry.is_dir(follow_symlinks=False):
                yield from walk(Path(entry.path), child)
            else:
                yield Part(child, _OCTETS, path=Path(entry.path))

    yield from walk(root, root.name or "root")
