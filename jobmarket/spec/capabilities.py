"""The provider capability document: what a node offers, published at ``register``.

Like a job spec it is one raw block of canonical JSON (``bafkrei…``) whose digest the
contract emits; requesters read it to pick a provider and providers use :meth:`accepts` to
decide which open jobs to claim.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from jobmarket.spec.job import JobSpec, PeerAddress, Resources
from jobmarket.spec.validation import Document, StrictModel


def _wei(value: object) -> object:
    if isinstance(value, str) and not value.isdigit():
        raise ValueError("must be a whole number of wei, written in decimal digits")
    return value


Wei = Annotated[
    int,
    BeforeValidator(_wei),
    Field(ge=0, lt=2**256),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": "^[0-9]{1,78}$", "description": "an amount in wei"}
    ),
]
"""Wei as a decimal string in JSON: amounts exceed what JSON numbers carry exactly."""


class Hardware(StrictModel):
    """The machine the node runs jobs on."""

    cpus: float = Field(ge=0.1, le=1024)
    memory_mb: int = Field(ge=16, le=16 * 1024 * 1024)
    gpus: int = Field(0, ge=0, le=64)


class ProviderCapabilities(Document):
    """What a provider offers: hardware, per-job maxima, price floor and accepted images."""

    document_name: ClassVar[str] = "capability document"

    version: Literal[1] = 1
    node_version: str = Field(min_length=1, max_length=64)
    hardware: Hardware
    max_resources: Resources = Field(description="the largest job this node will run")
    max_timeout_s: int = Field(3600, ge=1, le=86400)
    price_floor_wei: Wei = Field(description="the node ignores jobs paying less")
    ipfs_peers: list[PeerAddress] | None = Field(
        None,
        max_length=16,
        description="the node's IPFS peer addresses (/…/p2p/ID): connect to them to fetch results",
    )
    accepted_images: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        min_length=1,
        max_length=256,
        description="shell-style patterns, e.g. 'docker.io/library/python:*' or '*@sha256:*'",
    )
    networks: list[Literal["none", "bridge"]] = Field(default_factory=lambda: ["none"])

    def accepts(self, spec: JobSpec, price_wei: int | None = None) -> list[str]:
        """Why this node would refuse ``spec`` (empty when it accepts it)."""
        reasons = []
        wanted, offered = spec.resources, self.max_resources
        for field in ("cpu", "memory_mb", "gpu", "disk_mb"):
            if getattr(wanted, field) > getattr(offered, field):
                reasons.append(
                    f"resources.{field}: {getattr(wanted, field)} exceeds this node's maximum "
                    f"of {getattr(offered, field)}"
                )
        if spec.timeout_s > self.max_timeout_s:
            reasons.append(f"timeout_s: {spec.timeout_s} exceeds the maximum {self.max_timeout_s}")
        if spec.network not in self.networks:
            reasons.append(f"network: {spec.network!r} is not offered")
        if not any(fnmatch.fnmatchcase(spec.image, pattern) for pattern in self.accepted_images):
            reasons.append(f"image: {spec.image} matches none of the accepted images")
        if price_wei is not None and price_wei < self.price_floor_wei:
            reasons.append(f"price: {price_wei} wei is below the floor of {self.price_floor_wei}")
        return reasons
