"""GPU jobs without Docker or a chain: which GPUs a spec may have (count, memory per GPU,
model patterns), the capability document's inventory, the allocation of specific GPUs to
concurrent jobs, and that a restart gives a job back the GPUs journaled for it."""

from __future__ import annotations

import json

import pytest
from unit_support import posted

from jobmarket.errors import InvalidInput
from jobmarket.spec import JobSpec, ProviderCapabilities
from jobmarket.spec.capabilities import GpuDevice
from jobmarket.spec.validation import DocumentInvalid
from provider_node.gpus import (
    INVENTORY_ENV,
    RUNTIME_ENV,
    detect_gpus,
    load_inventory,
    parse_smi_listing,
    usable_gpus,
)
from provider_node.journal.store import Journal
from provider_node.lifecycle.advance import advance
from provider_node.lifecycle.capacity import Capacity
from provider_node.lifecycle.steps import Step

H100 = {"index": 0, "model": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-aaaa"}
A10 = {"index": 1, "model": "NVIDIA A10", "memory_mb": 23028}
DEVICES = [GpuDevice(**H100), GpuDevice(**A10)]


def _node(devices: list[dict] | None, gpus: int | None = None) -> ProviderCapabilities:
    hardware: dict = {"cpus": 8, "memory_mb": 16384}
    if devices is not None:
        hardware.update(gpus=len(devices), gpu_devices=devices)
    elif gpus is not None:
        hardware["gpus"] = gpus
    count = len(devices) if devices is not None else gpus or 0
    return ProviderCapabilities.parse(
        {
            "node_version": "0.1.0",
            "hardware": hardware,
            "max_resources": {"gpu": min(count, 8)},
            "price_floor_wei": "1",
            "accepted_images": ["*"],
        }
    )


def _spec(**resources: object) -> JobSpec:
    return JobSpec(image="jobmarket/busybox:1", command=["true"], resources=resources)


def _gpu_reasons(node: ProviderCapabilities, **resources: object) -> list[str]:
    return [r for r in node.accepts(_spec(**resources)) if "gpu" in r]


def test_a_gpu_job_is_refused_by_a_node_without_gpus_naming_what_is_missing():
    [reason] = _gpu_reasons(_node([]), gpu=1, gpu_memory_mb=24576, gpu_models=["H100*"])
    assert reason == (
        "gpu: the job asks for 1 GPU with at least 24576 MiB each, model H100*; "
        "this node has no GPU"
    )
    assert _gpu_reasons(_node([]), gpu=0) == []


def test_gpus_match_by_count_memory_and_model_pattern():
    node = _node([H100, A10])
    assert _gpu_reasons(node, gpu=2) == []
    assert _gpu_reasons(node, gpu=1, gpu_memory_mb=80000) == []
    assert _gpu_reasons(node, gpu=1, gpu_models=["H100*"]) == []  # without the NVIDIA prefix
    assert _gpu_reasons(node, gpu=1, gpu_models=["nvidia a10"]) == []  # case does not matter
    assert _gpu_reasons(node, gpu=2, gpu_models=["H100*", "A10"]) == []  # any pattern
    [memory] = _gpu_reasons(node, gpu=2, gpu_memory_mb=24576)
    assert "has 1 that match (0: NVIDIA H100 80GB HBM3 81559 MiB, 1: NVIDIA A10" in memory
    [model] = _gpu_reasons(node, gpu=1, gpu_models=["A100*"])
    assert "model A100*; this node has 0 that match" in model
    [count] = _gpu_reasons(node, gpu=3)
    assert count.startswith("gpu: the job asks for 3 GPUs; this node has 2 that match")


def test_a_document_that_gives_only_a_gpu_count_cannot_promise_memory_or_models():
    node = _node(None, gpus=2)
    assert _gpu_reasons(node, gpu=2) == []
    [reason] = _gpu_reasons(node, gpu=1, gpu_memory_mb=1024)
    assert reason.endswith("this node does not publish its GPU models and memory")
    assert _gpu_reasons(node, gpu=3) == ["resources.gpu: 3 exceeds this node's maximum of 2"]


def test_gpu_filters_without_gpus_and_inconsistent_inventories_are_refused_once():
    with pytest.raises(DocumentInvalid, match="gpu_memory_mb is given but gpu is 0"):
        JobSpec.parse({"image": "a", "command": ["x"], "resources": {"gpu_memory_mb": 1024}})
    with pytest.raises(DocumentInvalid, match="gpu_models"):
        JobSpec.parse({"image": "a", "command": ["x"], "resources": {"gpu": 1, "gpu_models": []}})
    with pytest.raises(DocumentInvalid, match="gpus is 3 but gpu_devices lists 2"):
        ProviderCapabilities.parse(
            {**_node([H100, A10]).model_dump(mode="json"), "hardware": {
                "cpus": 1, "memory_mb": 64, "gpus": 3, "gpu_devices": [H100, A10]}}
        )  # fmt: skip
    with pytest.raises(DocumentInvalid, match="same index"):
        _node([H100, {**A10, "index": 0}])


def test_an_old_spec_without_gpu_fields_keeps_its_cid():
    """The GPU fields are optional and left out when unset: published specs keep their CIDs."""
    spec = _spec(gpu=0)
    assert b"gpu_memory_mb" not in spec.to_block()[0]
    assert b"gpu_models" not in spec.to_block()[0]


def test_concurrent_jobs_get_disjoint_matching_gpus_and_freed_ones_are_reused():
    capacity = Capacity(cpus=8, memory_mb=8192, max_jobs=4, gpus=DEVICES)
    one = _spec(gpu=1).resources
    assert capacity.try_reserve(1, 1, 64, 0, gpu=one)
    assert capacity.try_reserve(2, 1, 64, 0, gpu=one)
    assert {capacity.gpus_of(1), capacity.gpus_of(2)} == {(0,), (1,)}
    assert capacity.free_gpus() == 0
    assert not capacity.try_reserve(3, 1, 64, 0, gpu=one)  # waits: both are in use
    assert capacity.gpu_wait_reason(one) == "waiting for a free GPU: the 2 that match are in use"
    freed = capacity.gpus_of(1)
    capacity.release(1)
    assert capacity.freed.is_set() and capacity.free_gpus() == 1
    assert capacity.gpus_of(1) == ()
    assert capacity.try_reserve(3, 1, 64, 0, gpu=one)
    assert capacity.gpus_of(3) == freed


def test_a_job_gets_only_gpus_that_match_its_spec():
    capacity = Capacity(cpus=8, memory_mb=8192, max_jobs=4, gpus=DEVICES)
    big = _spec(gpu=1, gpu_memory_mb=40000).resources
    assert capacity.try_reserve(1, 1, 64, 0, gpu=big)
    assert capacity.gpus_of(1) == (0,)  # the A10 has too little memory
    assert not capacity.try_reserve(2, 1, 64, 0, gpu=big)
    assert capacity.try_reserve(2, 1, 64, 0, gpu=_spec(gpu=1).resources)
    assert capacity.gpus_of(2) == (1,)


def test_the_gpus_journaled_for_a_job_are_given_back_after_a_restart(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    for job_id in (1, 2):
        journal.record_posted(posted(job_id))
    capacity = Capacity(cpus=8, memory_mb=8192, max_jobs=4, gpus=DEVICES)
    assert capacity.try_reserve(2, 1, 64, 0, gpu=_spec(gpu=1, gpu_models=["A10"]).resources)
    gpus = ",".join(map(str, capacity.gpus_of(2)))
    advance(journal, 2, Step.CLAIMING, cpu=1, memory_mb=64, gpus=gpus)
    journal.close()

    reopened = Journal(path)  # the node restarts: a new capacity, the journal as it was
    restarted = Capacity(cpus=8, memory_mb=8192, max_jobs=4, gpus=DEVICES)
    job = reopened.job(2)
    assert job.gpu_indexes == (1,)
    assert restarted.try_reserve(2, 1, 64, 0, force=True, held_gpus=job.gpu_indexes)
    assert restarted.gpus_of(2) == (1,)
    # A new job is given the other GPU, never the one the resumed job holds.
    assert restarted.try_reserve(1, 1, 64, 0, gpu=_spec(gpu=1).resources)
    assert restarted.gpus_of(1) == (0,)
    reopened.close()


def test_the_inventory_override_replaces_detection(tmp_path, monkeypatch):
    inventory = tmp_path / "gpus.json"
    inventory.write_text(json.dumps([A10, H100]))
    monkeypatch.setenv(INVENTORY_ENV, str(inventory))
    assert [device.index for device in detect_gpus()] == [0, 1]
    inventory.write_text(json.dumps([{"index": 0, "model": "x"}]))
    with pytest.raises(InvalidInput, match=r"is not a list of GPUs: 0\.memory_mb"):
        load_inventory(inventory)
    inventory.write_text(json.dumps([H100, H100]))
    with pytest.raises(InvalidInput, match="lists an index twice"):
        load_inventory(inventory)


def test_gpus_are_offered_only_when_docker_can_give_them_to_containers(tmp_path, monkeypatch):
    """A node whose Docker lacks the NVIDIA runtime must not claim GPU jobs it cannot start."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-container-runtime-hook to find
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    inventory = tmp_path / "gpus.json"
    inventory.write_text(json.dumps([H100]))
    monkeypatch.setenv(INVENTORY_ENV, str(inventory))

    devices, problem = usable_gpus({"Runtimes": {"runc": {}}, "CDISpecDirs": []})
    assert devices == []
    assert problem.startswith("Docker has no NVIDIA container runtime")
    assert "install nvidia-container-toolkit" in problem

    devices, problem = usable_gpus({"Runtimes": {"runc": {}, "nvidia": {"path": "x"}}})
    assert ([d.index for d in devices], problem) == ([0], None)
    cdi = tmp_path / "cdi"
    cdi.mkdir()
    (cdi / "nvidia.yaml").write_text("cdiVersion: 0.5.0\n")
    assert usable_gpus({"Runtimes": {}, "CDISpecDirs": [str(cdi)]})[1] is None

    monkeypatch.setenv(RUNTIME_ENV, "assume")  # the test hook
    assert usable_gpus({"Runtimes": {}})[1] is None
    inventory.write_text("[]")  # no GPU: nothing to complain about
    monkeypatch.delenv(RUNTIME_ENV)
    assert usable_gpus({"Runtimes": {}}) == ([], None)


def test_nvidia_smi_listings_are_read_and_odd_lines_left_out():
    listing = (
        "0, NVIDIA H200, 143771, GPU-8d6a2c1e-0000-0000-0000-000000000000, 560.35.03\n"
        "1, NVIDIA A10, 23028, [N/A], 560.35.03\n"
        "garbage line\n"
        "2, NVIDIA A10, not-a-number, GPU-x, 560.35.03\n"
    )
    devices = parse_smi_listing(listing, "12.6")
    assert [(d.index, d.model, d.memory_mb, d.uuid) for d in devices] == [
        (0, "NVIDIA H200", 143771, "GPU-8d6a2c1e-0000-0000-0000-000000000000"),
        (1, "NVIDIA A10", 23028, None),
    ]
    assert devices[0].driver_version == "560.35.03" and devices[0].cuda_version == "12.6"
