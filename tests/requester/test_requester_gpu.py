"""`requester post --gpu N --gpu-memory SIZE --gpu-model PATTERN`: the spec asks for GPUs,
and the provider's own rule (count, memory per GPU, model) decides before anything is paid.
Real anvil and embedded store; the provider is driven by hand."""

from __future__ import annotations

import json

from requester_support import CAPABILITIES, IMAGE

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.content.cid import Cid
from jobmarket.spec.capabilities import GpuDevice, Hardware
from jobmarket.spec.job import JobSpec

ME = dev_account(0).address
POST = ("post", "--image", IMAGE, "--cmd", "nvidia-smi", "--price", "0.01")
GPU_ASK = ("--gpu", "1", "--gpu-memory", "24GiB", "--gpu-model", "H100*")
H100 = GpuDevice(index=0, model="NVIDIA H100 80GB HBM3", memory_mb=81559, uuid="GPU-h100")


def _one_error_line(result, exit_code: int) -> str:
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.stderr
    return line


def test_a_gpu_job_no_provider_can_serve_is_refused_with_what_is_missing(cli, provider, chain):
    before = chain.nonce(ME)

    line = _one_error_line(cli(*POST, *GPU_ASK), 1)

    assert f"{provider.address} would decline: gpu: the job asks for 1 GPU with at least " in line
    assert "24576 MiB each, model H100*; this node has no GPU" in line
    assert chain.nonce(ME) == before


def test_a_provider_with_a_matching_gpu_gets_the_spec_asking_for_it(cli, provider, chain, store):
    provider.register(
        CAPABILITIES.model_copy(
            update={
                "hardware": Hardware(cpus=2, memory_mb=2048, gpus=1, gpu_devices=[H100]),
                "max_resources": CAPABILITIES.max_resources.model_copy(update={"gpu": 1}),
            }
        )
    )
    listing = cli("providers")
    assert "GPUs NVIDIA H100 80GB HBM3 81559 MiB (≤1 a job)" in listing.stdout
    too_big = _one_error_line(cli(*POST, "--gpu", "1", "--gpu-memory", "100GiB"), 1)
    assert "this node has 0 that match (0: NVIDIA H100 80GB HBM3 81559 MiB)" in too_big

    result = cli(*POST, *GPU_ASK, "--gpu-model", "A100*", "--json")

    assert result.exit_code == 0, result.stderr
    spec_cid = Cid.parse(json.loads(result.stdout)["spec_cid"])
    resources = JobSpec.fetch(store, spec_cid.digest).resources
    assert (resources.gpu, resources.gpu_memory_mb, resources.gpu_models) == (
        1,
        24576,
        ["H100*", "A100*"],
    )


def test_gpu_options_that_make_no_sense_are_one_error_line(cli, provider, chain):
    before = chain.nonce(ME)

    without_gpu = _one_error_line(cli(*POST, "--gpu-memory", "24GiB"), 2)
    unreadable = _one_error_line(cli(*POST, "--gpu", "1", "--gpu-memory", "lots"), 2)

    assert "gpu_memory_mb is given but gpu is 0: ask for at least one GPU" in without_gpu
    assert "cannot read the GPU memory (--gpu-memory) 'lots'" in unreadable
    assert chain.nonce(ME) == before
