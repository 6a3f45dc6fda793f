"""The provider capability document: what a node offers, published at ``register``.

Like a job spec it is one raw block of canonical JSON (``bafkrei…``) whose digest the
contract emits; requesters read it to pick a provider and providers use :meth:`accepts` to
decide which open jobs to claim.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, model_validator

from jobmarket.chain.units import Currency
from jobmarket.spec.job import HttpUrl, JobSpec, PeerAddress, Resources
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


_LABEL = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class GpuDevice(StrictModel):
    """One GPU of the machine, as NVML or ``nvidia-smi`` reports it."""

    index: int = Field(ge=0, le=63, description="the device index Docker and NVML use")
    model: _LABEL = Field(description="the device name, e.g. 'NVIDIA H100 80GB HBM3'")
    memory_mb: int = Field(ge=1, le=16 * 1024 * 1024, description="total memory in MiB")
    uuid: _LABEL | None = None
    driver_version: _LABEL | None = None
    cuda_version: _LABEL | None = None


class Hardware(StrictModel):
    """The machine the node runs jobs on; ``gpu_devices`` lists its GPUs when it says which
    (then ``gpus`` is their number)."""

    cpus: float = Field(ge=0.1, le=1024)
    memory_mb: int = Field(ge=16, le=16 * 1024 * 1024)
    gpus: int = Field(0, ge=0, le=64)
    gpu_devices: list[GpuDevice] | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _gpu_count_matches_devices(self) -> Hardware:
        if self.gpu_devices is not None:
            if len(self.gpu_devices) != self.gpus:
                raise ValueError(
                    f"gpus is {self.gpus} but gpu_devices lists {len(self.gpu_devices)}"
                )
            indexes = [device.index for device in self.gpu_devices]
            if len(set(indexes)) != len(indexes):
                raise ValueError("gpu_devices: two devices have the same index")
        return self


def gpu_matches(device: GpuDevice, wanted: Resources) -> bool:
    """Whether ``device`` may serve a job asking for ``wanted``: the one GPU rule (memory
    at least ``gpu_memory_mb``, model matching one of ``gpu_models``, case-insensitively, with
    or without the vendor's ``NVIDIA`` prefix)."""
    if wanted.gpu_memory_mb is not None and device.memory_mb < wanted.gpu_memory_mb:
        return False
    if wanted.gpu_models is None:
        return True
    model = device.model.lower()
    names = {model, model.removeprefix("nvidia ")}  # 'H100*' names an 'NVIDIA H100 80GB HBM3'
    return any(
        fnmatch.fnmatchcase(name, pattern.lower())
        for pattern in wanted.gpu_models
        for name in names
    )


def gpu_request_text(wanted: Resources) -> str:
    """``2 GPUs with at least 24576 MiB each, model H100*`` (for reasons and messages)."""
    parts = [f"{wanted.gpu} GPU{'s' if wanted.gpu != 1 else ''}"]
    if wanted.gpu_memory_mb is not None:
        parts[0] += f" with at least {wanted.gpu_memory_mb} MiB each"
    if wanted.gpu_models is not None:
        parts.append(f"model {' or '.join(wanted.gpu_models)}")
    return ", ".join(parts)


def gpu_problem(wanted: Resources, devices: list[GpuDevice] | None, where: str) -> str | None:
    """Why the GPUs ``devices`` (None: their models and memory are not known) cannot serve
    ``wanted`` (None: they can); ``where`` names them, e.g. "this node"."""
    if wanted.gpu == 0:
        return None
    asked = f"gpu: the job asks for {gpu_request_text(wanted)}"
    if devices is None:
        if wanted.gpu_memory_mb is not None or wanted.gpu_models is not None:
            return f"{asked}; {where} does not publish its GPU models and memory"
        return None
    if not devices:
        return f"{asked}; {where} has no GPU"
    matching = [device for device in devices if gpu_matches(device, wanted)]
    if len(matching) >= wanted.gpu:
        return None
    held = ", ".join(f"{d.index}: {d.model} {d.memory_mb} MiB" for d in devices[:8])
    return f"{asked}; {where} has {len(matching)} that match ({held})"


_DIGEST = r"^sha256:[0-9a-f]{64}$"


class HeldImage(StrictModel):
    """An image the node holds: its names, Docker's image id and any registry digests.

    A spec pins an image by a registry digest (``name@sha256:…``). A locally built image has
    none (Docker cannot find ``name@<image id>``): such an image is run by its tag, and the
    id is published so a requester can tell which build that tag names.
    """

    tags: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(max_length=64)
    id: Annotated[str, Field(pattern=_DIGEST)]
    repo_digests: list[Annotated[str, Field(min_length=1, max_length=600)]] = Field(
        default_factory=list, max_length=64, description="name@sha256:… as a registry has it"
    )

    def names(self) -> set[str]:
        """Every reference a spec may use for this image (tags and ``name@digest``)."""
        return {*self.tags, *self.repo_digests}


def _repository(reference: str) -> str:
    """``host:5000/a/b:tag@sha256:…`` → ``host:5000/a/b`` (a port is not a tag)."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


class ProviderCapabilities(Document):
    """What a provider offers: hardware, per-job maxima, price floor and accepted images."""

    document_name: ClassVar[str] = "capability document"

    version: Literal[1] = 1
    node_version: str = Field(min_length=1, max_length=64)
    hardware: Hardware
    max_resources: Resources = Field(description="the largest job this node will run")
    max_timeout_s: int = Field(3600, ge=1, le=86400)
    price_floor_wei: Wei = Field(
        description=(
            "the node ignores jobs paying less; in the market's smallest unit (wei in an ETH "
            "market, the token's base unit in a token market: 1500000 is 1.5 of a 6-decimal "
            "token)"
        )
    )
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
    images: list[HeldImage] = Field(
        default_factory=list,
        max_length=256,
        description="the accepted images this node holds (it does not pull); empty: not said",
    )
    api_url: HttpUrl | None = Field(
        None,
        description="the node's read-only API (job views, live logs for requesters): http(s)",
    )

    @property
    def gpu_inventory(self) -> list[GpuDevice] | None:
        """The GPUs this node publishes: [] when it has none, None when it says only how many."""
        if self.hardware.gpu_devices is None and self.hardware.gpus > 0:
            return None
        return list(self.hardware.gpu_devices or [])

    def image_problem(self, image: str, *, pulls: bool = False) -> str | None:
        """Why this node would not run ``image`` (None: it would).

        The accepted patterns come first; then, when the document lists the images held and
        the node does not pull (``pulls``: the node's run-time ``--allow-pull``), the reference
        must be one of their names: a tag it has, or a registry digest it has.
        """
        if not any(fnmatch.fnmatchcase(image, pattern) for pattern in self.accepted_images):
            return f"image: {image} matches none of the accepted images"
        if pulls or not self.images or any(image in held.names() for held in self.images):
            return None
        repository = _repository(image)
        same = [
            held for held in self.images if any(_repository(t) == repository for t in held.tags)
        ]
        if "@sha256:" in image and same:
            digests = [d for held in same for d in held.repo_digests]
            if not digests:
                tags = ", ".join(t for held in same for t in held.tags)
                return (
                    f"image: this node holds {tags} as a local build with no registry digest; "
                    f"name it by its tag ({tags}) instead of a digest"
                )
            return f"image: this node holds {repository} only as {', '.join(digests)}"
        held = ", ".join(sorted(name for h in self.images for name in h.tags)) or "none"
        return f"image: {image} is not on this node and pulling is disabled (it holds {held})"

    def accepts(
        self,
        spec: JobSpec,
        price_wei: int | None = None,
        *,
        pulls: bool = False,
        currency: Currency | None = None,
    ) -> list[str]:
        """Why this node would refuse ``spec`` (empty when it accepts it).

        The one decision: the node declines with these reasons, and ``requester post``,
        ``estimate`` and ``providers`` show them before anything is paid. ``price_wei`` is in
        the market's smallest unit, like the floor; ``currency`` shows both in its words.
        """
        reasons = []
        wanted, offered = spec.resources, self.max_resources
        for field in ("cpu", "memory_mb", "gpu", "disk_mb"):
            if getattr(wanted, field) > getattr(offered, field):
                reasons.append(
                    f"resources.{field}: {getattr(wanted, field)} exceeds this node's maximum "
                    f"of {getattr(offered, field)}"
                )
        gpu_reason = gpu_problem(wanted, self.gpu_inventory, "this node")
        if gpu_reason is not None:
            # Which GPUs are missing says more than a maximum of 0 does.
            reasons = [r for r in reasons if not r.startswith("resources.gpu:")] + [gpu_reason]
        if spec.timeout_s > self.max_timeout_s:
            reasons.append(f"timeout_s: {spec.timeout_s} exceeds the maximum {self.max_timeout_s}")
        if spec.network not in self.networks:
            reasons.append(f"network: {spec.network!r} is not offered")
        image_problem = self.image_problem(spec.image, pulls=pulls)
        if image_problem is not None:
            reasons.append(image_problem)
        if price_wei is not None and price_wei < self.price_floor_wei:
            if currency is None:
                reasons.append(
                    f"price: {price_wei} wei is below the floor of {self.price_floor_wei}"
                )
            else:
                reasons.append(
                    f"price: {currency.format(price_wei)} is below the floor of "
                    f"{currency.format(self.price_floor_wei)}"
                )
        return reasons
