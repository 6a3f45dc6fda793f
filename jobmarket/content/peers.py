"""Connecting our Kubo node to the other party's IPFS peers, without a DHT.

Peers learn of each other in three ways, all of them *hints* (with normal routing on a public
network they only make fetching faster):

* ``JOBMARKET_IPFS_PEERS``: peer addresses (``/ip4/…/tcp/…/p2p/ID``, separated by spaces or
  commas) the requester and the node connect to before reading anything — a private network's
  bootstrap list (e.g. a requester given its provider's address, or a shared relay node);
* a provider's capability document (``ipfs_peers``): the requester connects to them before
  fetching that provider's results;
* a job spec's ``retrieval.peers``: the provider connects to them before fetching the inputs.

Addresses from a counterpart are hostile input: each must be one multiaddr naming a peer
(:func:`jobmarket.content.kubo.check_peer_address`) and its host must pass
:func:`jobmarket.content.fetch.check_fetch_target` (no private or loopback targets unless
``JOBMARKET_FETCH_PRIVATE=1``). Addresses the operator configured are trusted as given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from jobmarket.content.fetch import check_fetch_target
from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput, UserError

IPFS_PEERS_ENV = "JOBMARKET_IPFS_PEERS"
MAX_PEERS = 16
_HOST = re.compile(r"^/(?:ip4|ip6|dns|dns4|dns6)/([^/]+)/")


def configured_peers() -> list[str]:
    """The operator's ``JOBMARKET_IPFS_PEERS`` (each checked to be a peer address)."""
    from jobmarket.content.kubo import check_peer_address

    text = os.environ.get(IPFS_PEERS_ENV, "")
    peers = []
    for item in re.split(r"[\s,]+", text.strip()):
        if item:
            try:
                peers.append(check_peer_address(item))
            except InvalidInput as err:
                raise InvalidInput(f"{IPFS_PEERS_ENV}: {err.problem}", err.hint) from None
    return peers


def own_addresses(store: ContentStore) -> list[str]:
    """Our Kubo node's peer addresses others can dial (loopback left out); [] for other stores."""
    from jobmarket.content.kubo import KuboStore, check_peer_address

    if not isinstance(store, KuboStore):
        return []
    peers = []
    for address in store.identity().addresses:
        if address.startswith(("/ip4/127.", "/ip6/::1/")):
            continue
        try:
            peers.append(check_peer_address(address))
        except InvalidInput:
            continue  # a transport we do not describe (e.g. webrtc-direct with certhashes)
    return peers[:MAX_PEERS]


def peer_problem(address: str) -> str | None:
    """Why a counterpart's peer address must not be dialled, or None."""
    from jobmarket.content.kubo import check_peer_address

    try:
        check_peer_address(address)
        match = _HOST.match(address)
        host = match[1] if match else ""
        check_fetch_target(f"http://{'[' + host + ']' if ':' in host else host}/")
    except UserError as err:
        return err.problem
    return None


def connect_peers(
    store: ContentStore, addresses: Iterable[str], *, trusted: bool = False
) -> tuple[list[str], dict[str, str]]:
    """Connect a Kubo store to each address (one by one: a dead peer must not hide the others).

    Returns the addresses connected and, for the others, why not. Other stores: nothing to do.
    """
    from jobmarket.content.kubo import KuboStore

    connected: list[str] = []
    failed: dict[str, str] = {}
    if not isinstance(store, KuboStore):
        return connected, failed
    for address in list(addresses)[:MAX_PEERS]:
        problem = None if trusted else peer_problem(address)
        if problem is None:
            try:
                store.swarm_connect([address])
            except UserError as err:
                problem = err.problem
        if problem is None:
            connected.append(address)
        else:
            failed[address] = problem
    return connected, failed


def connect_configured_peers(store: ContentStore) -> list[str]:
    """Connect to ``JOBMARKET_IPFS_PEERS`` (if set); the addresses connected."""
    return connect_peers(store, configured_peers(), trusted=True)[0]
