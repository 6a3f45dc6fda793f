"""Inputs that live elsewhere: the requester's IPFS peers, trustless gateways, pinned URLs.

Before the node inspects a job's inputs (and again before staging them after a claim), it

1. connects its Kubo node to the peers the spec hints at (``retrieval.peers``), so the
   inputs' blocks come over bitswap without any DHT or public bootstrap;
2. fetches inputs it does not hold from the gateways the spec names (``retrieval.gateways``)
   as one CAR each, every block verified (:func:`jobmarket.content.gateway.import_from_gateway`);
3. downloads each URL input (``url_inputs``) with the job's disk allowance as cap, checks its
   sha256 before anything else sees it, and adds it to the store, so it is inspected and staged
   exactly like a CID input.

Any URL input that cannot be fetched or does not match its digest is a problem: the job is
declined before claiming, and the log line says which input and why. Peers and gateways are
only hints: when they fail, the inspection that follows decides (the content may be local).
Every address comes from the requester, so each is checked first
(:mod:`jobmarket.content.peers`, :mod:`jobmarket.content.fetch`: no private or loopback targets
unless the operator set ``JOBMARKET_FETCH_PRIVATE=1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from jobmarket.content.cid import Cid
from jobmarket.content.fetch import fetch_pinned
from jobmarket.content.gateway import import_from_gateway
from jobmarket.content.peers import connect_peers
from jobmarket.content.store import ContentStore
from jobmarket.errors import UserError
from jobmarket.spec.inputs import input_allowance
from jobmarket.spec.job import InputMount, JobSpec
from provider_node.context.logs import emit

log = logging.getLogger("provider_node")


@dataclass
class GatheredInputs:
    """The spec with URL inputs turned into CID mounts, and why any input cannot be had."""

    spec: JobSpec
    problems: list[str] = field(default_factory=list)


def connect_to_peers(store: ContentStore, addresses: list[str], *, job_id: int) -> list[str]:
    """Connect the store's Kubo node to the spec's hinted peers; each failure logged."""
    connected, failed = connect_peers(store, addresses)
    for address, reason in failed.items():
        emit(log, "peer_unreachable", job=job_id, peer=address[:200], reason=reason[:200])
    if connected:
        emit(log, "peers_connected", job=job_id, peers=len(connected))
    return connected


def gather_inputs(
    store: ContentStore, spec: JobSpec, downloads: Path, *, job_id: int
) -> GatheredInputs:
    """Steps 1 to 3 of the module docstring; nothing here ever raises for a bad input."""
    hints = spec.retrieval
    if hints is not None:
        connect_to_peers(store, list(hints.peers), job_id=job_id)
        if hints.gateways:
            _from_gateways(store, spec, list(hints.gateways), job_id=job_id)
    problems: list[str] = []
    mounts = list(spec.inputs)
    remaining = input_allowance(spec)
    for entry in spec.url_inputs or ():
        try:
            target = downloads / entry.sha256
            path = fetch_pinned(entry.url, entry.sha256, target, max_bytes=remaining)
            cid = store.add_file(path)
        except UserError as err:
            problems.append(f"input /in/{entry.path} ({entry.url[:200]}): {err.problem}")
            continue
        remaining -= path.stat().st_size
        mounts.append(InputMount(cid=str(cid), path=entry.path))
        emit(log, "url_input_verified", job=job_id, path=entry.path, sha256=entry.sha256, cid=cid)
    gathered = spec.model_copy(update={"inputs": mounts, "url_inputs": None})
    return GatheredInputs(gathered, problems)


def _from_gateways(store: ContentStore, spec: JobSpec, gateways: list[str], *, job_id: int) -> None:
    allowance = input_allowance(spec)
    for mount in spec.inputs:
        cid = Cid.parse(mount.cid)
        if store.has(cid):
            continue
        for gateway in gateways:
            try:
                import_from_gateway(store, gateway, cid, max_bytes=allowance)
            except UserError as err:
                emit(log, "gateway_failed", job=job_id, cid=cid, reason=err.problem[:200])
                continue
            emit(log, "gateway_fetched", job=job_id, cid=cid, gateway=gateway[:200])
            break


def forget_downloads(spec: JobSpec, downloads: Path) -> None:
    """Remove a job's downloaded URL inputs once staged (their bytes are in the store and in
    the job's staging folder; a later run downloads again)."""
    for entry in spec.url_inputs or ():
        (downloads / entry.sha256).unlink(missing_ok=True)
