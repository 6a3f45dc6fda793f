"""GPU jobs through the executor, against a real dockerd: the GPUs the node's allocator gave
each job reach its container as Docker device requests for exactly those indexes, so two
concurrent jobs never share a GPU, and the manifest records them.

This machine has no GPU and Docker here has no NVIDIA runtime, so the allocator is given a
fake inventory of two GPUs through the override hook (``JOBMARKET_GPU_INVENTORY``) and the
containers, created through the executor's real code path, are inspected as Docker holds
them; they cannot start (Docker: 'could not select device driver "nvidia"'), which must end
as a clean result of status ``error`` with one line saying why — no traceback, nothing left.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from jobmarket.spec.job import Resources
from provider_node.executor import DockerExecutor, ExecutionStatus, GpuAssignment
from provider_node.gpus import INVENTORY_ENV, detect_gpus
from provider_node.lifecycle.capacity import Capacity

FAKE_GPUS = [
    {"index": 0, "model": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-fake-0"},
    {"index": 1, "model": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-fake-1"},
]


@pytest.fixture
def allocator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Capacity:
    """The node's capacity with the two fake GPUs, read through the override hook."""
    inventory = tmp_path / "gpus.json"
    inventory.write_text(json.dumps(FAKE_GPUS))
    monkeypatch.setenv(INVENTORY_ENV, str(inventory))
    return Capacity(cpus=8, memory_mb=8192, max_jobs=2, gpus=detect_gpus())


def _given(allocator: Capacity, job_id: int) -> tuple[GpuAssignment, ...]:
    devices = allocator.gpu_devices
    return tuple(
        GpuAssignment(i, devices[i].model, devices[i].uuid) for i in allocator.gpus_of(job_id)
    )


def test_two_gpu_jobs_get_disjoint_devices_exactly_as_allocated(
    executor: DockerExecutor, request_for, allocator: Capacity, docker_api: docker.DockerClient
) -> None:
    one_gpu = Resources(gpu=1, gpu_models=["H100*"])
    assert allocator.try_reserve(1, 1, 128, 0, gpu=one_gpu)
    assert allocator.try_reserve(2, 1, 128, 0, gpu=one_gpu)  # both held at once
    first, second = (
        replace(request_for("nvidia-smi", key=f"gpu-{n}"), gpus=_given(allocator, n))
        for n in (1, 2)
    )
    plain = request_for("true", key="no-gpu")

    jobs = [executor.start(request) for request in (first, second, plain)]

    requested = [
        docker_api.api.inspect_container(job.container_id)["HostConfig"]["DeviceRequests"]
        for job in jobs
    ]
    assert requested[0] == [
        {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0"], "Capabilities": [["gpu"]],
         "Options": {}}
    ]  # fmt: skip
    assert requested[1][0]["DeviceIDs"] == ["1"]
    assert not requested[2]  # a job without GPUs asks Docker for none
    for job in jobs[:2]:
        assert job.start_error and "nvidia" in job.start_error  # no NVIDIA runtime here


def test_a_gpu_job_that_cannot_start_ends_as_a_clean_error_result_recording_its_gpus(
    executor: DockerExecutor, request_for, allocator: Capacity, deliver
) -> None:
    assert allocator.try_reserve(7, 1, 128, 0, gpu=Resources(gpu=1))
    request = replace(request_for("nvidia-smi > /out/smi.txt"), gpus=_given(allocator, 7))

    job = executor.start(request)
    executor.wait(job)
    result = executor.collect(job)
    manifest, _ = deliver(result)
    executor.remove(job, purge=True)

    assert result.status == ExecutionStatus.ERROR
    assert result.error is not None and "\n" not in result.error
    assert result.error.startswith("Docker could not start the job: could not select device")
    assert [(g.index, g.uuid) for g in result.gpus] == [(0, "GPU-fake-0")]
    assert manifest.status == "error"
    assert [(g.index, g.model, g.uuid) for g in manifest.gpus or []] == [
        (0, "NVIDIA H100 80GB HBM3", "GPU-fake-0")
    ]
    allocator.release(7)
    assert allocator.free_gpus() == 2
