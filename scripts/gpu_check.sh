#!/usr/bin/env bash
# A real GPU job on a machine with an NVIDIA GPU and Docker's NVIDIA runtime (root):
#
#   scripts/gpu_check.sh
#
# Detects the GPUs as `provider-node` does (provider_node/gpus.py), builds a local image
# `jobmarket/gpu-check:1` (the busybox job image plus the host's glibc, so the `nvidia-smi`
# that the NVIDIA runtime injects can run; no registry needed), lets the node's capacity
# allocate one GPU, runs `nvidia-smi` in a hardened job container through the node's executor
# with exactly that GPU, publishes the result as the node does and checks that the output and
# the manifest name the allocated GPU. Exit 0 only then; one `error:` line and exit 1 when the
# machine has no GPU, Docker lacks the NVIDIA runtime, or the check fails.
# Not run on the development machine (no GPU there); the GPU-less tests are
# tests/node/test_node_gpu.py and tests/executor/test_executor_gpus.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=.venv/bin/python
if [[ ! -x $PYTHON ]]; then
    echo "error: no .venv here: run make install first" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "error: the executor mounts a size-limited /out per job: run as root" >&2
    exit 1
fi
exec "$PYTHON" - <<'PY'
import io
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from jobmarket.content.embedded import EmbeddedStore
from jobmarket.docker_engine import DEFAULT_IMAGE, docker_client, ensure_image
from jobmarket.errors import UserError
from jobmarket.spec.job import JobSpec, Resources
from provider_node.executor import DockerExecutor, ExecutionRequest, GpuAssignment, Limits
from provider_node.gpus import container_runtime_problem, detect_gpus
from provider_node.io.results import publish_execution
from provider_node.lifecycle.capacity import Capacity

IMAGE = "jobmarket/gpu-check:1"
GLIBC = ("ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0",
         "librt.so.1")  # fmt: skip
LIB_DIRS = ("/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def build_image(client) -> None:
    """The busybox job image plus the host's glibc (nvidia-smi is linked against it)."""
    ensure_image(DEFAULT_IMAGE, client)
    libraries = [Path(d) / n for d in LIB_DIRS for n in GLIBC if (Path(d) / n).exists()]
    if not any(p.name == "libc.so.6" for p in libraries):
        fail("no glibc found on this host to put in the check image")
    context = io.BytesIO()
    lines = [f"FROM {DEFAULT_IMAGE}"]
    with tarfile.open(fileobj=context, mode="w") as tar:
        for number, path in enumerate(libraries):
            data = path.resolve().read_bytes()
            info = tarfile.TarInfo(f"lib{number}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
            lines.append(f"COPY lib{number} {path}")
        dockerfile = ("\n".join(lines) + "\n").encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=IMAGE, rm=True)


try:
    gpus = detect_gpus()
    if not gpus:
        fail("no NVIDIA GPU on this machine (NVML and nvidia-smi see none): nothing to check")
    client = docker_client()
    problem = container_runtime_problem(client.info())
    if problem:
        fail(problem)
    print(f"GPUs: {', '.join(f'{g.index}: {g.model} {g.memory_mb} MiB' for g in gpus)}")
    build_image(client)
    capacity = Capacity(cpus=1, memory_mb=1024, max_jobs=1, gpus=gpus)
    if not capacity.try_reserve(1, 1, 256, 0, gpu=Resources(gpu=1)):
        fail("the node's capacity did not allocate a GPU")
    [index] = capacity.gpus_of(1)
    device = capacity.gpu_devices[index]
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    executor = DockerExecutor("gpu-check", client=client, work_root=work / "jobs")
    request = ExecutionRequest(
        key=f"gpu-check-{int(time.time())}",
        image=IMAGE,
        argv=("sh", "-c", "nvidia-smi -L && nvidia-smi --query-gpu=uuid,name --format=csv,noheader"),
        limits=Limits(timeout_s=120.0, memory_mb=512, pids=64),
        gpus=(GpuAssignment(index, device.model, device.uuid),),
    )
    started = time.monotonic()
    result = executor.run(request)
    seconds = time.monotonic() - started
    spec = JobSpec(image=IMAGE, command=list(request.argv), resources={"gpu": 1})
    with EmbeddedStore(work / "store") as store:
        _, manifest = publish_execution(
            store, result, job_id=1, spec=spec, spec_cid=spec.cid, folder=work / "result"
        )
    executor.remove(request.key, purge=True)
    executor.close()
    print(result.stdout_tail.rstrip())
    if result.status != "succeeded":
        fail(f"the GPU job ended {result.status}: {result.error or result.stderr_tail.strip()}")
    if device.uuid and device.uuid not in result.stdout_tail:
        fail(f"nvidia-smi in the container does not show the allocated GPU {device.uuid}")
    if device.model not in result.stdout_tail:
        fail(f"nvidia-smi in the container does not show a {device.model}")
    if [g.index for g in manifest.gpus or []] != [index]:
        fail(f"the manifest records GPUs {manifest.gpus}, not GPU {index}")
    print(f"ok: GPU {index} ({device.model}) ran nvidia-smi in a job container in {seconds:.2f} s")
except UserError as err:
    fail(err.message)
PY
