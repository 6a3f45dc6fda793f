"""What to run and within which limits: the executor's input, independent of Docker.

The node turns an on-chain job into an :class:`ExecutionRequest` whose :class:`Limits` it has
already capped by its :class:`NodePolicy`; the executor clamps them again (defence in depth),
so a bug upstream can never hand a job more than the node allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from jobmarket.names import env_name_problem, env_value_problem
from provider_node.executor.errors import InvalidRequest

MiB = 1024 * 1024
# Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; labels carry the same string.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class NetworkMode(StrEnum):
    """``none`` (default) gives the job only a loopback device; ``bridge`` gives it egress."""

    NONE = "none"
    BRIDGE = "bridge"


@dataclass(frozen=True)
class Limits:
    """Resources one job may use. Every field is an upper bound enforced by the kernel or us."""

    cpu: float = 1.0
    memory_mb: int = 512
    pids: int = 128
    timeout_s: float = 600.0
    network: NetworkMode = NetworkMode.NONE
    tmpfs_mb: int = 64
    max_output_bytes: int = 256 * MiB
    max_output_files: int = 1000
    max_output_depth: int = 16
    max_log_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", NetworkMode(self.network))
        minimums: dict[str, float] = {
            "cpu": 0.01,
            "memory_mb": 16,  # below ~6 MiB Docker refuses; below 16 nothing useful starts
            "pids": 4,
            "timeout_s": 0.1,
            "tmpfs_mb": 1,
            "max_output_bytes": 1,
            "max_output_files": 1,
            "max_output_depth": 1,
            "max_log_bytes": 4096,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
                raise InvalidRequest(
                    f"limit {name}={value!r} is invalid", f"use a number >= {minimum}"
                )

    def clamped_to(self, ceiling: Limits) -> Limits:
        """These limits, each lowered to the ceiling's value where it is higher."""
        lowered: dict[str, Any] = {}
        for spec in fields(self):
            if spec.name == "network":
                allowed = ceiling.network == NetworkMode.BRIDGE
                lowered["network"] = self.network if allowed else NetworkMode.NONE
            else:
                lowered[spec.name] = min(getattr(self, spec.name), getattr(ceiling, spec.name))
        return replace(self, **lowered)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["network"] = self.network.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limits:
        known = {spec.name for spec in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class NodePolicy:
    """What this node allows any job, whatever the job asks for."""

    ceiling: Limits = field(
        default_factory=lambda: Limits(
            cpu=2.0,
            memory_mb=4096,
            pids=512,
            timeout_s=3600.0,
            network=NetworkMode.NONE,
            tmpfs_mb=1024,
            max_output_bytes=4096 * MiB,
            max_output_files=100_000,
            max_output_depth=64,
            max_log_bytes=16 * MiB,
        )
    )
    allow_pull: bool = False  # no registry is trusted by default: jobs use preloaded images
    user: str = "65534:65534"  # nobody:nogroup, never root
    nofile: int = 1024
    # Wait this long for Docker to confirm a kill or an exit before reporting without it.
    api_grace_s: float = 10.0


@dataclass(frozen=True)
class GpuAssignment:
    """A GPU given to one job's container: Docker's device request names it by ``index``;
    ``model`` and ``uuid`` are recorded in the result manifest."""

    index: int
    model: str = ""
    uuid: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise InvalidRequest(f"GPU index {self.index!r} is invalid", "use 0, 1, …")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuAssignment:
        return cls(int(data["index"]), str(data.get("model") or ""), data.get("uuid") or None)


@dataclass(frozen=True)
class ExecutionRequest:
    """One job to run: a deterministic key, an image, a command, and its limits.

    ``inputs`` is a host folder mounted read-only at ``/in``; its files must be readable by
    the job user (uid 65534), i.e. world-readable, as a node's default umask makes them.
    """

    key: str
    image: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    inputs: Path | None = None
    limits: Limits = field(default_factory=Limits)
    # The GPUs allocated to this job (by the node's capacity): exactly these are given to it.
    gpus: tuple[GpuAssignment, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "gpus", tuple(self.gpus))
        indexes = [gpu.index for gpu in self.gpus]
        if len(set(indexes)) != len(indexes):
            raise InvalidRequest(f"GPU indexes {indexes} repeat one", "give each GPU once")
        check_name("job key", self.key)
        if not self.image or any(ch.isspace() for ch in self.image):
            raise InvalidRequest(f"image name {self.image!r} is invalid", "give a Docker image")
        if any(not isinstance(arg, str) or "\0" in arg for arg in self.argv):
            raise InvalidRequest("command arguments must be strings without NUL bytes")
        for name, value in self.env.items():
            problem = env_name_problem(name) or env_value_problem(value)
            if problem:
                raise InvalidRequest(
                    f"environment variable {name!r} is invalid: {problem}",
                    "use names like MY_VAR",
                )
        if self.inputs is not None:
            inputs = Path(self.inputs)
            if not inputs.is_dir():
                raise InvalidRequest(
                    f"input folder {inputs} does not exist", "stage the inputs before starting"
                )
            object.__setattr__(self, "inputs", inputs.resolve())


def check_name(what: str, value: str) -> str:
    """Keys and node ids become container names and labels: keep them to a safe alphabet."""
    if not isinstance(value, str) or not _NAME_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"{what} {value!r} is invalid",
            "use 1-100 characters from A-Z a-z 0-9 _ . - starting with a letter or digit",
        )
    return value
