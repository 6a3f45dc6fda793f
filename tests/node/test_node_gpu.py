"""GPU jobs through real `provider-node` processes on real anvil and Docker.

This machine has no GPU: a GPU job is declined before any claim by the module's ordinary
node. A second provider is given two fake GPUs through the inventory override hook
(``JOBMARKET_GPU_INVENTORY``, what the node's allocator reads instead of NVML): it registers
them (and is told that Docker lacks the NVIDIA runtime); run as it is, it offers no GPU and
declines GPU jobs before any claim, since Docker could not start them. With the runtime
declared by the test hook ``JOBMARKET_GPU_RUNTIME=assume`` it holds two GPU jobs at once with
disjoint GPUs, journaled, and hands each container exactly its GPU as a Docker device
request. The containers cannot start without a GPU and the NVIDIA runtime, so each job ends
as a clean delivered result of status ``error`` whose manifest records the GPU Docker was
asked for (read from the created container's ``HostConfig.DeviceRequests``); no traceback.
The real run, with ``nvidia-smi`` inside the container, is ``scripts/gpu_check.sh``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from node_world import (
    PROVIDER_ADDRESS,
    REQUESTER,
    Market,
    remove_node_containers,
    shell_job,
)
from support.node import ProviderNode, provider_node_cli

from jobmarket.chain.accounts import test_account as account_of
from jobmarket.chain.states import JobState
from jobmarket.spec.capabilities import ProviderCapabilities
from provider_node.gpus import RUNTIME_ENV

GPU_PROVIDER = "TEST::2"
GPU_PROVIDER_ADDRESS = account_of(2).address
FAKE_GPUS = [
    {"index": 0, "model": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-fake-0",
     "driver_version": "560.35.03", "cuda_version": "12.6"},
    {"index": 1, "model": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-fake-1",
     "driver_version": "560.35.03", "cuda_version": "12.6"},
]  # fmt: skip


def test_a_gpu_job_is_declined_before_any_claim_on_a_machine_without_gpus(
    market: Market, node: ProviderNode
) -> None:
    nonce = market.w3.eth.get_transaction_count(PROVIDER_ADDRESS)
    job_id = market.post(
        shell_job("nvidia-smi", resources={"gpu": 1, "gpu_memory_mb": 24576}),
        designated=PROVIDER_ADDRESS,
    )

    declined = node.wait_for_step(job_id, "declined", timeout=60)

    assert declined["reason"] == (
        "gpu: the job asks for 1 GPU with at least 24576 MiB each; this node has no GPU"
    )
    assert market.calls("claim", PROVIDER_ADDRESS, job_id) == []
    assert market.w3.eth.get_transaction_count(PROVIDER_ADDRESS) == nonce
    assert market.job(job_id).state == JobState.OPEN


@pytest.fixture(scope="module")
def gpu_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    inventory = tmp_path_factory.mktemp("gpus") / "inventory.json"
    inventory.write_text(json.dumps(FAKE_GPUS))
    return {"JOBMARKET_GPU_INVENTORY": str(inventory)}


@pytest.fixture(scope="module")
def registered_gpu_provider(market: Market, gpu_env: dict[str, str]) -> str:
    """``provider-node register`` on the fake inventory; its stderr."""
    done = provider_node_cli(
        ["register", "--stake", "1 ether"],
        rpc_url=market.url,
        home=market.home,
        account=GPU_PROVIDER,
        env=gpu_env,
    )
    return done.stderr


@pytest.fixture(scope="module")
def gpu_node(
    market: Market,
    registered_gpu_provider: str,
    gpu_env: dict[str, str],
    docker_api: docker.DockerClient,
) -> Iterator[ProviderNode]:
    """The GPU provider's node, not started: the test starts it once its jobs are posted.
    TEST HOOK: it is told Docker has the NVIDIA runtime (this machine's has not)."""
    provider = ProviderNode(
        rpc_url=market.url,
        home=market.home,
        account=GPU_PROVIDER,
        args=["--max-jobs", "2", "--delivery-margin", "10"],
        env={**gpu_env, RUNTIME_ENV: "assume"},
    )
    yield provider
    provider.stop()
    remove_node_containers(market, docker_api)


def test_register_publishes_the_gpus_and_says_what_to_install_without_the_runtime(
    market: Market, registered_gpu_provider: str
) -> None:
    [warning] = [line for line in registered_gpu_provider.splitlines() if line.strip()]
    assert warning.startswith("warning: 2 GPUs offered, but Docker has no NVIDIA container")
    assert "install nvidia-container-toolkit" in warning
    assert market.client.provider_info(GPU_PROVIDER_ADDRESS).registered  # registered anyway
    event = market.client.account_events(
        GPU_PROVIDER_ADDRESS, market.first_block, market.w3.eth.block_number,
        names=["ProviderRegistered"],
    )[-1]  # fmt: skip
    document = ProviderCapabilities.fetch(market.store, bytes(event.args["capabilities"]))
    assert document.hardware.gpus == 2 and document.max_resources.gpu == 2
    assert [d.model_dump(exclude_none=True) for d in document.hardware.gpu_devices or []] == (
        FAKE_GPUS
    )


def test_a_node_whose_docker_lacks_the_nvidia_runtime_declines_gpu_jobs_before_claiming(
    market: Market, registered_gpu_provider: str, gpu_env: dict[str, str]
) -> None:
    """Claimed, such a job could only end in a container Docker refuses to start."""
    node = ProviderNode(
        rpc_url=market.url, home=market.home, account=GPU_PROVIDER, args=[], env=gpu_env
    )
    nonce = market.w3.eth.get_transaction_count(GPU_PROVIDER_ADDRESS)
    try:
        node.start()
        job_id = market.post(
            shell_job("nvidia-smi", resources={"gpu": 1}), designated=GPU_PROVIDER_ADDRESS
        )
        declined = node.wait_for_step(job_id, "declined", timeout=60)
        [unusable] = node.events("gpus-unusable")
        ready = node.events("ready")[-1]
    finally:
        node.stop()

    assert declined["reason"].startswith(
        "gpu: the job asks for 1 GPU; Docker has no NVIDIA container runtime"
    )
    assert "install nvidia-container-toolkit" in unusable["problem"]
    assert ready["gpus"] == "0"
    assert market.calls("claim", GPU_PROVIDER_ADDRESS, job_id) == []
    assert market.w3.eth.get_transaction_count(GPU_PROVIDER_ADDRESS) == nonce
    assert market.job(job_id).state == JobState.OPEN
    market.client.transact(REQUESTER, "cancel", job_id)  # out of the next node's way


def test_two_concurrent_gpu_jobs_get_disjoint_gpus_in_their_containers(
    market: Market, gpu_node: ProviderNode, tmp_path: Path
) -> None:
    spec = shell_job("nvidia-smi > /out/smi.txt", resources={"gpu": 1, "gpu_models": ["H100*"]})
    jobs = [market.post(spec, designated=GPU_PROVIDER_ADDRESS) for _ in range(2)]
    # Claims wait in the mempool until we mine: both jobs hold their GPUs at the same time.
    market.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        gpu_node.start()
        claiming = {job: gpu_node.wait_for_step(job, "claiming", timeout=60) for job in jobs}
    finally:
        market.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        market.mine()
    assert sorted(event["gpus"] for event in claiming.values()) == ["0", "1"]
    assert gpu_node.events("ready")[-1]["gpus"] == "2"

    for job in jobs:
        gpu_node.wait_for_step(job, "submitted", timeout=90)
    manifests = {job: market.fetch(job, tmp_path / f"result-{job}") for job in jobs}

    for job, manifest in manifests.items():
        # The container was asked for exactly the GPU journaled for its job, and could not
        # start here: a delivered result of status error, not an abandoned claim.
        assert [gpu.index for gpu in manifest.gpus or []] == [int(claiming[job]["gpus"])]
        assert manifest.gpus[0].model == "NVIDIA H100 80GB HBM3"
        assert manifest.status == "error"
        assert market.job(job).state == JobState.SUBMITTED
    ran = [gpu_node.events("ran", job=job)[-1] for job in jobs]
    assert [event["status"] for event in ran] == ["error", "error"]
    assert all('could not select device driver "nvidia"' in event["error"] for event in ran)
    assert not any("Traceback" in line for line in gpu_node.lines())
    assert gpu_node.events("step-error") == []
