"""The job spec: what a requester asks a provider to run.

A spec is stored as one raw IPFS block of canonical JSON (``bafkrei…``); the chain keeps its
sha2-256 digest, so the same spec always yields the same CID and a provider can fetch and
verify exactly what was paid for. Inputs are UnixFS content mounted read-only under ``/in``;
the job writes results under ``/out``.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from jobmarket.content.cid import RAW, Cid
from jobmarket.content.fetch import url_problem
from jobmarket.errors import InvalidInput
from jobmarket.names import env_name_problem, env_value_problem
from jobmarket.spec.validation import (
    CidText,
    Document,
    RelativePath,
    StrictModel,
    parse_document,
)

SPEC_VERSION = 1
INPUT_ROOT = "/in"
OUTPUT_ROOT = "/out"

# Docker's reference grammar (distribution/reference), restricted to sha256 digests.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_PATH_PART = r"(?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)"
_IMAGE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?",
    re.ASCII,  # Docker's \w is [A-Za-z0-9_], not every Unicode letter
)


def _check_image(value: str) -> str:
    # Like Docker, a first component is a registry only if it has a dot or port, or is
    # localhost; otherwise it is part of the (lower-case) repository name.
    first = re.split(r"[/:@]", value, maxsplit=1)[0]
    has_registry = "/" in value and (
        "." in value.split("/")[0] or ":" in value.split("/")[0] or first == "localhost"
    )
    if (
        len(value) > 512
        or not _IMAGE.fullmatch(value)
        or (not has_registry and not re.fullmatch(_PATH_PART, first))
    ):
        raise ValueError(
            "must be a Docker image reference such as alpine:3.20 or name@sha256:<64 hex digits>"
        )
    return value


def _check_argument(value: str) -> str:
    if "\0" in value:
        raise ValueError("must not contain NUL characters")
    return value


ImageRef = Annotated[str, AfterValidator(_check_image)]
Argument = Annotated[str, Field(max_length=4096), AfterValidator(_check_argument)]


def _check_gpu_model(value: str) -> str:
    if not value.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must be a shell-style pattern such as 'H100*' (no control characters)")
    return value


GpuModelPattern = Annotated[str, Field(max_length=128), AfterValidator(_check_gpu_model)]


class Resources(StrictModel):
    """What a job may use; a provider enforces these as hard container limits.

    GPUs are asked for by count, optionally with a minimum memory per GPU and model patterns
    (shell-style, matched case-insensitively against the model a provider publishes, e.g.
    ``NVIDIA H100 80GB HBM3``, with or without its ``NVIDIA`` prefix; any pattern may match).
    Each GPU given to the job must meet both (``jobmarket.spec.capabilities.gpu_matches``).
    """

    cpu: float = Field(1.0, ge=0.1, le=64, description="CPU cores (fractions allowed)")
    memory_mb: int = Field(512, ge=16, le=65536, description="memory limit in MiB")
    gpu: int = Field(0, ge=0, le=8, description="number of GPUs")
    disk_mb: int = Field(1024, ge=1, le=102400, description="scratch and output space in MiB")
    gpu_memory_mb: int | None = Field(
        None, ge=1, le=16 * 1024 * 1024, description="minimum memory of each GPU in MiB"
    )
    gpu_models: list[GpuModelPattern] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="GPU models accepted, shell-style patterns such as 'H100*' (any may match)",
    )

    @model_validator(mode="after")
    def _gpu_filters_need_gpus(self) -> Resources:
        for name in ("gpu_memory_mb", "gpu_models"):
            if getattr(self, name) is not None and self.gpu == 0:
                raise ValueError(f"{name} is given but gpu is 0: ask for at least one GPU")
        return self


class InputMount(StrictModel):
    """UnixFS content (file or folder) mounted read-only at ``/in/<path>``."""

    cid: CidText
    path: RelativePath


def _check_peer(value: str) -> str:
    from jobmarket.content.kubo import check_peer_address

    try:
        return check_peer_address(value)
    except InvalidInput as err:
        raise ValueError(f"{err.problem} ({err.hint})") from None


def _check_url(value: str) -> str:
    problem = url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


PeerAddress = Annotated[str, AfterValidator(_check_peer)]
HttpUrl = Annotated[str, AfterValidator(_check_url)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex sha256")]


class UrlInput(StrictModel):
    """A file the provider downloads over HTTP(S) and mounts read-only at ``/in/<path>`` only
    once its sha256 equals ``sha256`` (declined before claiming otherwise)."""

    url: HttpUrl
    sha256: Sha256Hex
    path: RelativePath


class RetrievalHints(StrictModel):
    """Where the inputs can be fetched from: the requester's IPFS peers (the provider connects
    to them before fetching, so no DHT is needed) and trustless gateways (CAR, verified)."""

    peers: list[PeerAddress] = Field(default_factory=list, max_length=16)
    gateways: list[HttpUrl] = Field(default_factory=list, max_length=8)


class JobSpec(Document):
    """A job: image, command, inputs, limits and how the result is verified."""

    document_name: ClassVar[str] = "job spec"

    version: Literal[1] = SPEC_VERSION
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)
    image: ImageRef = Field(description="Docker image, ideally pinned: name@sha256:<digest>")
    command: list[Argument] = Field(min_length=1, max_length=256, description="argv, no shell")
    env: dict[str, Annotated[str, Field(max_length=4096)]] = Field(default_factory=dict)
    inputs: list[InputMount] = Field(default_factory=list, max_length=64)
    url_inputs: list[UrlInput] | None = Field(
        None, max_length=64, description="files fetched over HTTP(S), pinned by sha256"
    )
    retrieval: RetrievalHints | None = Field(
        None, description="the requester's IPFS peer addresses and gateways serving the inputs"
    )
    outputs: list[RelativePath] = Field(
        default_factory=list,
        max_length=64,
        description="paths under /out to collect; empty means everything in /out",
    )
    resources: Resources = Field(default_factory=Resources)
    timeout_s: int = Field(600, ge=1, le=86400, description="wall-clock limit in seconds")
    network: Literal["none", "bridge"] = "none"
    verifier: Literal["manual", "exit_code", "reexecute"] = "manual"

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        if len(env) > 128:
            raise ValueError("must have at most 128 variables")
        for name, value in env.items():
            problem = env_name_problem(name)
            if problem:
                raise ValueError(problem)
            problem = env_value_problem(value)
            if problem:
                raise ValueError(f"value of {name} {problem}")
        return env

    @field_validator("inputs")
    @classmethod
    def _input_paths(cls, inputs: list[InputMount]) -> list[InputMount]:
        _check_disjoint([mount.path for mount in inputs])
        return inputs

    @model_validator(mode="after")
    def _all_input_paths(self) -> JobSpec:
        if self.url_inputs:
            _check_disjoint([mount.path for mount in self.inputs] + self.url_input_paths)
        return self

    @property
    def url_input_paths(self) -> list[str]:
        return [entry.path for entry in self.url_inputs or ()]

    @field_validator("outputs")
    @classmethod
    def _output_paths(cls, outputs: list[str]) -> list[str]:
        _check_disjoint(outputs)
        return outputs

    @property
    def image_is_pinned(self) -> bool:
        """True when the image names an exact digest (a tag can move between runs)."""
        return "@sha256:" in self.image

    @classmethod
    def from_block(cls, cid: Cid, block: bytes) -> JobSpec:
        """Parse a spec fetched by its on-chain digest (the store already verified the bytes)."""
        if cid.codec != RAW:
            raise InvalidInput(f"job spec {cid} must be a raw block (bafkrei…)")
        return parse_document(cls, block, f"job spec {cid}")


def _check_disjoint(paths: list[str]) -> None:
    """No duplicates, and no path inside another (a mount cannot sit inside a file mount)."""
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise ValueError(f"path {path!r} appears twice")
        seen.add(path)
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in seen:
                raise ValueError(f"path {path!r} lies inside {parent!r}")
