"""This machine's NVIDIA GPUs: what ``register`` publishes and what the node allocates to jobs.

Detection asks NVML first (the official ``nvidia-ml-py`` bindings, module ``pynvml``: no
process to start, exact memory sizes), then ``nvidia-smi`` when NVML's library cannot be
loaded; a machine with neither, or with no GPU, has an empty inventory (no error).

TEST / OVERRIDE HOOK: ``JOBMARKET_GPU_INVENTORY=FILE`` replaces detection by the inventory in
FILE, a JSON list of devices as the capability document has them (``index``, ``model``,
``memory_mb``, optional ``uuid``, ``driver_version``, ``cuda_version``). The test suites use
it to give a GPU-less machine's allocator fake GPUs; an operator may use it to offer only some
of the machine's GPUs.

Giving a container a GPU also needs the NVIDIA container runtime (nvidia-container-toolkit),
which the operator installs: :func:`container_runtime_problem` says when Docker lacks it, and
`provider-node run` then offers jobs no GPU (they are declined before any claim).

TEST HOOK: ``JOBMARKET_GPU_RUNTIME=assume`` makes :func:`container_runtime_problem` report no
problem. With a fake inventory it lets the suites on a GPU-less machine follow a GPU job past
the claim to the container Docker refuses to start (allocation, device requests, manifest).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from jobmarket.errors import InvalidInput
from jobmarket.spec.capabilities import GpuDevice
from jobmarket.spec.validation import error_lines

INVENTORY_ENV = "JOBMARKET_GPU_INVENTORY"
RUNTIME_ENV = "JOBMARKET_GPU_RUNTIME"
MAX_GPUS = 64
_SMI_FIELDS = "index,name,memory.total,uuid,driver_version"
_SMI_TIMEOUT_S = 15.0
_CUDA_IN_HEADER = re.compile(r"CUDA Version:\s*([0-9]+(?:\.[0-9]+)*)")
_INSTALL_HINT = (
    "install nvidia-container-toolkit, then `nvidia-ctk runtime configure --runtime=docker` "
    "and restart dockerd"
)


def detect_gpus() -> list[GpuDevice]:
    """The GPUs jobs may use: the override file if set, else NVML, else ``nvidia-smi``."""
    override = os.environ.get(INVENTORY_ENV)
    if override:
        return load_inventory(Path(override))
    devices = _from_nvml()
    if devices is None:
        devices = _from_nvidia_smi()
    return sorted(devices or [], key=lambda device: device.index)[:MAX_GPUS]


def load_inventory(path: Path) -> list[GpuDevice]:
    """The devices listed in an inventory file; one clear error if it cannot be used."""
    where = f"the GPU inventory {path} ({INVENTORY_ENV})"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InvalidInput(
            f"cannot read {where}: {err}", f"fix the file or unset {INVENTORY_ENV}"
        ) from None
    try:
        devices = TypeAdapter(list[GpuDevice]).validate_python(data)
    except ValidationError as err:
        raise InvalidInput(
            f"{where} is not a list of GPUs: {'; '.join(error_lines(err))[:300]}",
            'write e.g. [{"index": 0, "model": "NVIDIA H100 80GB HBM3", "memory_mb": 81559}]',
        ) from None
    indexes = [device.index for device in devices]
    if len(set(indexes)) != len(indexes) or len(devices) > MAX_GPUS:
        raise InvalidInput(
            f"{where} lists an index twice or more than {MAX_GPUS} GPUs", "fix the file"
        )
    return sorted(devices, key=lambda device: device.index)


def _from_nvml() -> list[GpuDevice] | None:
    """The GPUs NVML reports, or None when NVML's library is not on this machine."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None  # no driver library (no GPU), or a driver NVML cannot talk to
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = _cuda_version(pynvml.nvmlSystemGetCudaDriverVersion_v2())
        devices = []
        for position in range(min(pynvml.nvmlDeviceGetCount(), MAX_GPUS)):
            handle = pynvml.nvmlDeviceGetHandleByIndex(position)
            devices.append(
                GpuDevice(
                    index=pynvml.nvmlDeviceGetIndex(handle),
                    model=_text(pynvml.nvmlDeviceGetName(handle))[:128],
                    memory_mb=max(1, int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) >> 20),
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle))[:128] or None,
                    driver_version=driver or None,
                    cuda_version=cuda,
                )
            )
        return devices
    except (pynvml.NVMLError, ValidationError):
        return None  # a half-working driver: nvidia-smi may still answer
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _cuda_version(number: int) -> str | None:
    """NVML's 12040 as ``12.4``."""
    return f"{number // 1000}.{number % 1000 // 10}" if number > 0 else None


def _from_nvidia_smi() -> list[GpuDevice] | None:
    """The GPUs ``nvidia-smi`` lists, or None when it is not installed or does not answer."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        listing = subprocess.run(
            [smi, f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=_SMI_TIMEOUT_S,
        )
        header = subprocess.run([smi], capture_output=True, text=True, timeout=_SMI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    if listing.returncode != 0:
        return None
    found = _CUDA_IN_HEADER.search(header.stdout)
    return parse_smi_listing(listing.stdout, found.group(1) if found else None)


def parse_smi_listing(text: str, cuda_version: str | None = None) -> list[GpuDevice]:
    """Devices from ``nvidia-smi --query-gpu=index,name,memory.total,uuid,driver_version
    --format=csv,noheader,nounits`` (lines that do not parse are left out)."""
    devices = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 5:
            continue
        index, name, memory, uuid, driver = cells
        try:
            devices.append(
                GpuDevice(
                    index=int(index),
                    model=name[:128],
                    memory_mb=int(float(memory)),
                    uuid=uuid[:128] if uuid and uuid != "[N/A]" else None,
                    driver_version=driver or None,
                    cuda_version=cuda_version,
                )
            )
        except (ValueError, ValidationError):
            continue
    return devices


def usable_gpus(docker_info: dict[str, Any]) -> tuple[list[GpuDevice], str | None]:
    """The GPUs containers can be given on the engine ``docker_info`` describes, and why the
    detected ones cannot be (None: they can, or there are none)."""
    devices = detect_gpus()
    problem = container_runtime_problem(docker_info) if devices else None
    return ([], problem) if problem else (devices, None)


def container_runtime_problem(docker_info: dict[str, Any]) -> str | None:
    """Why Docker cannot give a container a GPU (None: it can, as far as can be told).

    Docker honours ``--gpus`` device requests when the ``nvidia`` runtime is registered, when
    ``nvidia-container-runtime-hook`` is on its PATH, or through a CDI spec for NVIDIA devices.
    """
    if os.environ.get(RUNTIME_ENV) == "assume":  # the test hook (module docstring)
        return None
    if "nvidia" in (docker_info.get("Runtimes") or {}):
        return None
    if shutil.which("nvidia-container-runtime-hook"):
        return None
    for folder in docker_info.get("CDISpecDirs") or []:
        directory = Path(folder)
        if directory.is_dir() and any("nvidia" in p.name.lower() for p in directory.iterdir()):
            return None
    return f"Docker has no NVIDIA container runtime, so jobs cannot use the GPUs: {_INSTALL_HINT}"
