"""The requester's side of content that crosses machines: URL inputs, peer hints, gateways.

* ``post --input-url NAME=URL#sha256=HEX`` adds a file the provider downloads itself; the digest
  pins it (the provider declines before claiming when the URL does not answer or the bytes
  differ), so the requester need not serve it.
* When the store is a Kubo node, a posted spec with CID inputs carries this node's peer
  addresses (``retrieval.peers``): the provider connects to them before fetching, so no DHT
  or public bootstrap is needed.
* with a Kubo store, ``JOBMARKET_IPFS_PEERS`` (a bootstrap list, see
  :mod:`jobmarket.content.peers`) is connected to when the store is opened
  (:attr:`requester.api.Requester.store`), so a provider can read the spec at all;
* ``results --gateway URL`` reads a result through a trustless gateway, every block checked;
  with a Kubo store, results are fetched after connecting to the peers the provider published
  in its capability document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobmarket.content.peers import connect_peers, own_addresses
from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput, UserError
from jobmarket.names import name_problem
from jobmarket.spec.job import JobSpec, UrlInput
from jobmarket.spec.validation import DocumentInvalid
from jobmarket.terminal import printable

_PIN = "#sha256="


def parse_input_url(text: str) -> UrlInput:
    """``NAME=URL#sha256=HEX`` as a URL input mounted at ``/in/NAME``."""
    name, sep, rest = text.partition("=")
    url, pinned, digest = rest.rpartition(_PIN)
    if not sep or not name or not pinned:
        raise InvalidInput(
            f"cannot read --input-url {printable(text[:200])!r}",
            "write NAME=URL#sha256=<64 hex digits> (the sha256 of the file's bytes)",
        )
    problem = name_problem(name)
    if problem:
        raise InvalidInput(f"--input-url name {printable(name[:100])!r} {problem}")
    try:
        return UrlInput.model_validate({"url": url, "sha256": digest.lower(), "path": name})
    except Exception as err:  # pydantic's ValidationError: one line per broken field
        lines = "; ".join(str(e.get("msg")) for e in getattr(err, "errors", lambda: [])())
        raise InvalidInput(
            f"cannot read --input-url {printable(text[:200])!r}: {lines or err}",
            "write NAME=URL#sha256=<64 hex digits>",
        ) from None


def with_remote_inputs(spec: JobSpec, store: ContentStore, input_urls: Sequence[str]) -> JobSpec:
    """``spec`` with the URL inputs and, for CID inputs on a Kubo store, our peers as hints."""
    urls = [parse_input_url(text) for text in input_urls]
    if not urls and not spec.inputs:
        return spec
    document: dict[str, Any] = spec.model_dump(mode="json", exclude_none=True)
    if urls:
        document["url_inputs"] = [*document.get("url_inputs", []), *(u.model_dump() for u in urls)]
    if spec.inputs and spec.retrieval is None:
        peers = own_addresses(store)
        if peers:
            document["retrieval"] = {"peers": peers}
    try:
        return JobSpec.parse(document, "job spec")
    except DocumentInvalid as err:
        raise InvalidInput(err.problem, "fix the inputs named above") from None


def results_store(requester: Any, provider: str, gateway: str | None) -> ContentStore:
    """Where a result is read from: ``gateway`` (read-only, trustless) when given; else the
    requester's store, connected first to the provider's published peers when it is Kubo."""
    if gateway:
        from jobmarket.content.gateway import GatewayStore

        return GatewayStore(gateway)
    store: ContentStore = requester.store
    from jobmarket.content.kubo import KuboStore

    if isinstance(store, KuboStore):
        from requester.providers import find_provider

        try:
            listing = find_provider(requester.client, store, provider)
        except UserError:
            listing = None
        if listing is not None and listing.capabilities is not None:
            connect_peers(store, listing.capabilities.ipfs_peers or ())
    return store
