"""The node's published terms: the capability document it registered on-chain.

``register`` publishes the document to the content store and emits its digest
(``ProviderRegistered``); the journal remembers the digest, and the event stream updates it if
the account registers again. A node whose journal is new (another machine, a wiped folder)
finds its latest registration in the chain's logs instead.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from jobmarket.chain.client import MarketClient
from jobmarket.content.peers import own_addresses
from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput, UserError
from jobmarket.spec.capabilities import GpuDevice, Hardware, HeldImage, ProviderCapabilities
from jobmarket.spec.validation import DocumentInvalid
from provider_node.journal.store import Journal

CAPABILITIES_META = "capabilities"
LOG_CHUNK = 50_000


def machine_hardware(gpus: list[GpuDevice] | None = None) -> Hardware:
    """This machine's CPUs and memory, with ``gpus`` (``provider_node.gpus.detect_gpus()``):
    what ``register`` offers by default."""
    devices = list(gpus or [])
    return Hardware(
        cpus=float(os.cpu_count() or 1),
        memory_mb=_memory_mb(),
        gpus=len(devices),
        gpu_devices=devices or None,
    )


def _memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return max(16, int(line.split()[1]) // 1024)
    except (OSError, ValueError):
        pass
    return 1024


def node_version() -> str:
    try:
        version = metadata.version("jobmarket")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"provider-node/{version} ({platform.system().lower()})"


def held_images(patterns: list[str]) -> list[HeldImage]:
    """The local Docker images a pattern accepts, with their ids and registry digests.

    Published so requesters see which images (and which builds of them) this node really has;
    empty when no Docker engine answers (the document then says nothing about held images).
    """
    import fnmatch

    import docker

    try:
        client = docker.from_env(timeout=10)
        try:
            listed = client.images.list()
        finally:
            client.close()
    except docker.errors.DockerException:
        return []
    held = []
    for image in listed:
        tags = [t for t in image.tags if any(fnmatch.fnmatchcase(t, p) for p in patterns)]
        if tags:
            digests = list(image.attrs.get("RepoDigests") or [])
            held.append(HeldImage(tags=sorted(tags)[:64], id=image.id, repo_digests=digests[:64]))
    return sorted(held, key=lambda h: h.tags)[:256]


# The ``register`` option behind each field of a document built from options.
_OPTION_OF_FIELD = {
    "accepted_images": "--image",
    "networks": "--network",
    "max_timeout_s": "--max-timeout",
    "price_floor_wei": "--price-floor",
    "max_resources.cpu": "--max-cpu",
    "max_resources.memory_mb": "--max-memory-mb",
    "max_resources.disk_mb": "--max-disk-mb",
    "api_url": "--api-url",
}


def _option_line(line: str) -> str:
    """``accepted_images.0: must have …`` as ``--image: must have …``."""
    field, _, rule = line.partition(": ")
    for prefix, option in _OPTION_OF_FIELD.items():
        if field == prefix or field.startswith(prefix + "."):
            return f"{option}: {rule}"
    return line


def build_capabilities(
    *,
    hardware: Hardware,
    max_cpu: float,
    max_memory_mb: int,
    max_disk_mb: int,
    max_timeout_s: int,
    price_floor_wei: int,
    accepted_images: list[str],
    networks: list[str],
    images: list[HeldImage] | None = None,
) -> ProviderCapabilities:
    """The capability document ``register`` publishes; a bad option is named in one line.

    ``images`` defaults to the local images the accepted patterns match (:func:`held_images`).
    """
    document = {
        "node_version": node_version(),
        "hardware": hardware.model_dump(),
        "max_resources": {
            "cpu": max_cpu,
            "memory_mb": max_memory_mb,
            "gpu": min(hardware.gpus, 8),
            "disk_mb": max_disk_mb,
        },
        "max_timeout_s": max_timeout_s,
        "price_floor_wei": price_floor_wei,
        "accepted_images": accepted_images,
        "networks": networks,
        "images": [
            held.model_dump()
            for held in (held_images(accepted_images) if images is None else images)
        ],
    }
    try:
        return ProviderCapabilities.parse(document)
    except DocumentInvalid as err:
        raise InvalidInput(
            "cannot register with these options: " + "; ".join(map(_option_line, err.lines)),
            "fix the options named (see `provider-node register --help`); nothing was sent",
        ) from None


def registered_digest(client: MarketClient, account: str, journal: Journal) -> bytes | None:
    """The digest of the account's latest capability document, or None if never registered."""
    known = journal.get_meta(CAPABILITIES_META)
    if known:
        return bytes.fromhex(known)
    head = client.w3.eth.block_number
    latest: bytes | None = None
    for start in range(client.start_block, head + 1, LOG_CHUNK):  # public RPCs cap ranges
        end = min(head, start + LOG_CHUNK - 1)
        for event in client.account_events(account, start, end, names=["ProviderRegistered"]):
            latest = bytes(event.args["capabilities"])
    if latest is not None:
        journal.set_meta(CAPABILITIES_META, latest.hex())
    return latest


def load_capabilities(store: ContentStore, digest: bytes) -> ProviderCapabilities:
    try:
        return ProviderCapabilities.fetch(store, digest)
    except UserError as err:
        raise UserError(
            f"this node's capability document (digest 0x{digest.hex()}) cannot be read from "
            f"the content store at {store.location} ({err.problem})",
            "run `provider-node register` again to publish it",
        ) from None


def with_ipfs_peers(document: ProviderCapabilities, store: ContentStore) -> ProviderCapabilities:
    """The document with this node's IPFS peer addresses (loopback left out), when the store is
    a Kubo node and the document names none: requesters connect to them to fetch results."""
    if document.ipfs_peers is not None:
        return document
    peers = own_addresses(store)
    if not peers:
        return document
    return ProviderCapabilities.parse({**document.model_dump(mode="json"), "ipfs_peers": peers})


def with_api_url(document: ProviderCapabilities, url: str | None) -> ProviderCapabilities:
    """The document naming ``url`` as the node's API (``register --api-url``; None: as is)."""
    if url is None:
        return document
    try:
        return ProviderCapabilities.parse({**document.model_dump(mode="json"), "api_url": url})
    except DocumentInvalid as err:
        raise InvalidInput(
            "cannot register with these options: " + "; ".join(map(_option_line, err.lines)),
            "give --api-url as the http(s) URL requesters reach `run --api-listen` at; "
            "nothing was sent",
        ) from None
