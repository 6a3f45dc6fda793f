"""Reads through an IPFS trustless gateway (``/ipfs/CID`` as ``vnd.ipld.raw`` or ``vnd.ipld.car``).

A gateway is trusted for availability, never for bytes (the IPFS trustless gateway
specification): every block it sends is hashed against the CID it was asked for, and a CAR is
imported only through :meth:`ContentStore.import_car`, which verifies every block and that the
root's DAG is whole. One implementation serves both sides:

* :class:`GatewayStore` is a read-only :class:`ContentStore` that fetches each block with
  ``Accept: application/vnd.ipld.raw`` — ``requester results --gateway URL`` reads a result
  through it exactly as through any store (manifest, files, the on-chain digest);
* :func:`import_from_gateway` fetches a whole DAG as one CAR
  (``Accept: application/vnd.ipld.car``) into a local store — the provider node uses it for
  inputs whose spec names a gateway.

Targets are checked by :func:`jobmarket.content.fetch.check_fetch_target` (no private or
loopback hosts unless the operator allows them).
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import httpx

from jobmarket.content.blockstore import MAX_BLOCK_SIZE
from jobmarket.content.cid import Cid
from jobmarket.content.fetch import (
    DEFAULT_FETCH_TIMEOUT_S,
    check_fetch_target,
    http_client,
    stream_to_file,
)
from jobmarket.content.importer import EntryCallback, ImportParams
from jobmarket.content.ipld import AnyCid
from jobmarket.content.store import ContentStore
from jobmarket.errors import IntegrityError, InvalidInput, NotFound, Unreachable
from jobmarket.terminal import printable

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"


def gateway_base(url: str) -> str:
    """``scheme://host:port[/path]`` without a trailing slash or ``/ipfs``."""
    return url.strip().rstrip("/").removesuffix("/ipfs")


class GatewayStore(ContentStore):
    """A trustless gateway as a read-only store: every block verified against its CID."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_FETCH_TIMEOUT_S,
        allow_private: bool | None = None,
    ) -> None:
        self.base_url = gateway_base(url)
        check_fetch_target(self.base_url, allow_private=allow_private)
        self.location = f"gateway {self.base_url}"
        self._client = http_client(timeout, allow_private=allow_private)

    def close(self) -> None:
        self._client.close()

    def _read_only(self, *_args: object, **_kwargs: object) -> Cid:
        raise InvalidInput(
            f"the {self.location} is read-only", "add content to your own store (unset --gateway)"
        )

    def add_bytes(
        self, data: bytes, *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        return self._read_only()

    def add_file(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        return self._read_only()

    def add_dir(
        self,
        path: str | os.PathLike[str],
        *,
        pin: bool = False,
        params: ImportParams | None = None,
        on_entry: EntryCallback | None = None,
    ) -> Cid:
        return self._read_only()

    def add_symlink(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        return self._read_only()

    def pin(self, cid: Cid) -> None:
        self._read_only()

    def unpin(self, cid: Cid) -> None:
        self._read_only()

    def pins(self) -> list[AnyCid]:
        return []

    def hold(self, name: str, roots: Sequence[AnyCid]) -> None:
        pass  # nothing is kept here: every read asks the gateway

    def drop(self, name: str) -> None:
        pass

    def held(self, prefix: str) -> list[str]:
        return []

    def import_car(self, path: str | os.PathLike[str], *, pin_roots: bool = True) -> list[AnyCid]:
        self._read_only()
        return []

    def has(self, cid: Cid) -> bool:
        return False  # nothing is here without asking the network

    def get_block(self, cid: Cid) -> bytes:
        url = f"{self.base_url}/ipfs/{cid}?format=raw"
        try:
            answer = self._client.get(url, headers={"Accept": RAW_TYPE})
        except httpx.TimeoutException:
            raise Unreachable(f"{self.location} did not answer in time", "try again") from None
        except httpx.HTTPError as err:
            raise Unreachable(
                f"{self.location} cannot be reached ({printable(type(err).__name__)})",
                "check the gateway URL",
            ) from None
        if answer.status_code in (404, 410, 504):
            raise NotFound(
                f"block {cid} is not available from the {self.location} "
                f"(HTTP {answer.status_code})",
                "check the CID, or try another gateway",
            )
        if answer.status_code != 200:
            raise Unreachable(
                f"{self.location} answered HTTP {answer.status_code} for block {cid}",
                "check the gateway URL",
            )
        block = answer.content
        if len(block) > MAX_BLOCK_SIZE or not cid.verify(block):
            raise IntegrityError(
                f"{self.location} sent bytes for block {cid} that do not match it",
                "the gateway is broken or malicious; do not use it",
            )
        return block


def import_from_gateway(
    store: ContentStore,
    gateway: str,
    cid: Cid,
    *,
    max_bytes: int,
    allow_private: bool | None = None,
    timeout: float = DEFAULT_FETCH_TIMEOUT_S,
) -> None:
    """Fetch ``cid``'s whole DAG from ``gateway`` as a CAR and import it (every block checked).

    The CAR is capped at ``max_bytes`` plus room for the blocks' framing; the store refuses a
    CAR whose blocks do not match their CIDs or that lacks part of the root's DAG.
    """
    base = gateway_base(gateway)
    check_fetch_target(base, allow_private=allow_private)
    url = f"{base}/ipfs/{cid}?format=car&dag-scope=all"
    with tempfile.TemporaryDirectory(prefix="jobmarket-car-") as folder:
        car = Path(folder) / "dag.car"
        with http_client(timeout, allow_private=allow_private) as client:
            stream_to_file(
                client,
                url,
                car,
                max_bytes=max_bytes + max_bytes // 8 + 1024 * 1024,
                headers={"Accept": f"{CAR_TYPE};version=1;order=dfs;dups=n"},
            )
        roots = store.import_car(car, pin_roots=True)
    if str(cid) not in {str(root) for root in roots}:
        raise IntegrityError(
            f"gateway {printable(base)} sent a CAR for {urllib.parse.quote(str(roots[:1]))} "
            f"instead of {cid}",
            "the gateway is broken or malicious; do not use it",
        )
