"""The hardened container profile every job runs under.

Each setting closes one way an untrusted job could hurt the host or other jobs:

===================  ==========================================================================
no network           ``network_mode=none`` unless the policy allows ``bridge``
read-only root       the image cannot be modified; only /out, /tmp (and /dev/shm) are writable
no capabilities      ``cap_drop=ALL``: no mknod, chown, raw sockets, mounts
no-new-privileges    setuid binaries in the image or in /in cannot raise privileges
non-root user        ``65534:65534`` (nobody), also in the image's own files' eyes
pids limit           a fork bomb stops at the cgroup's pids.max ("can't fork")
memory, no swap      ``memswap_limit == mem_limit``; the OOM killer ends the job (status oom)
CPU                  ``nano_cpus``: a CFS quota, so a busy loop cannot starve the node
/tmp                 a size-limited tmpfs (counted in the job's memory), noexec, nosuid
/out                 a size- and inode-limited ext4 filesystem (see ``volume``)
logs                 driver ``none``: the job's supervisor attaches to stdout and stderr and
                     keeps each in its own capped file (Docker's json-file loses tails)
init                 ``init=True``: zombies are reaped, signals reach the job
ulimits              nofile; fsize (a single file cannot outgrow /out); no core dumps
OOM score            1000: under host memory pressure the kernel picks jobs before the node
GPUs                 none, unless the node allocated some: a device request (driver nvidia) for
                     exactly those indexes, so concurrent jobs never share a GPU
===================  ==========================================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from provider_node.executor.spec import ExecutionRequest, GpuAssignment, Limits, MiB, NodePolicy
from provider_node.executor.volume import OutputVolume

LABEL_JOB = "jobmarket.job"
LABEL_NODE = "jobmarket.node"
LABEL_LIMITS = "jobmarket.limits"
LABEL_WORKDIR = "jobmarket.workdir"
LABEL_IMAGE = "jobmarket.image"
LABEL_GPUS = "jobmarket.gpus"
CONTAINER_PREFIX = "jobmarket-"


def container_name(key: str) -> str:
    """Deterministic, so a restarted node finds the job's container instead of running it again."""
    return f"{CONTAINER_PREFIX}{key}"


def labels(
    node_id: str, request: ExecutionRequest, limits: Limits, workdir: Path
) -> dict[str, str]:
    """Everything a restarted node needs to wait for and collect the job without its memory."""
    found = {
        LABEL_JOB: request.key,
        LABEL_NODE: node_id,
        LABEL_LIMITS: json.dumps(limits.to_dict(), sort_keys=True),
        LABEL_WORKDIR: str(workdir),
        LABEL_IMAGE: request.image,
    }
    if request.gpus:
        found[LABEL_GPUS] = json.dumps([asdict(gpu) for gpu in request.gpus], sort_keys=True)
    return found


def gpus_from_labels(job_labels: dict[str, str]) -> tuple[GpuAssignment, ...]:
    """The GPUs a container was given, as its labels record them (empty: none)."""
    text = job_labels.get(LABEL_GPUS)
    return tuple(GpuAssignment.from_dict(item) for item in json.loads(text)) if text else ()


def device_requests(gpus: tuple[GpuAssignment, ...]) -> list[Any]:
    """Docker's ``--gpus '"device=0,1"'``: the NVIDIA runtime exposes exactly these devices."""
    if not gpus:
        return []
    from docker.types import DeviceRequest

    ids = [str(gpu.index) for gpu in gpus]
    return [DeviceRequest(driver="nvidia", device_ids=ids, capabilities=[["gpu"]])]


def hardened_config(
    *,
    request: ExecutionRequest,
    limits: Limits,
    policy: NodePolicy,
    image_id: str,
    job_labels: dict[str, str],
    out_source: Path,
    out_capacity: int,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (docker-py) for one job."""
    # Here, not at the top: the job's supervisor reads this module's labels without docker-py.
    from docker.types import LogConfig, Mount, Ulimit

    environment = {"HOME": "/tmp", **request.env}
    mounts = [Mount(target="/out", source=str(out_source), type="bind", read_only=False)]
    if request.inputs is not None:
        mounts.append(Mount(target="/in", source=str(request.inputs), type="bind", read_only=True))
    memory = f"{limits.memory_mb}m"
    largest_file = max(out_capacity, limits.tmpfs_mb * MiB)
    return {
        "image": image_id,
        "command": list(request.argv),
        "name": container_name(request.key),
        "labels": job_labels,
        "environment": environment,
        "user": policy.user,
        "hostname": "job",
        "network_mode": limits.network.value,
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "privileged": False,
        "ipc_mode": "private",
        "pids_limit": limits.pids,
        "mem_limit": memory,
        "memswap_limit": memory,
        "shm_size": f"{min(64, limits.memory_mb)}m",
        "nano_cpus": int(limits.cpu * 1e9),
        "oom_score_adj": 1000,
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
        "mounts": mounts,
        "log_config": LogConfig(type=LogConfig.types.NONE),
        "init": True,
        "ulimits": [
            Ulimit(name="nofile", soft=policy.nofile, hard=policy.nofile),
            Ulimit(name="fsize", soft=largest_file, hard=largest_file),
            Ulimit(name="core", soft=0, hard=0),
        ],
        "restart_policy": {"Name": "no"},
        "auto_remove": False,
        "detach": True,
        **({"device_requests": device_requests(request.gpus)} if request.gpus else {}),
    }


def docker_run_command(
    limits: Limits,
    image: str,
    argv: list[str],
    *,
    docker: str = "docker",
    user: str = NodePolicy.user,
    out_dir: Path | None = None,
) -> list[str]:
    """The same hardened profile as ``docker run`` flags, without the /in mount.

    For reproducing a job by hand and for measuring the executor against bare Docker.
    ``out_dir`` (a host folder the job user can write) is bind-mounted at ``/out``.
    """
    out = [] if out_dir is None else ["--mount", f"type=bind,source={out_dir},target=/out"]
    memory = f"{limits.memory_mb}m"
    largest_file = max(
        OutputVolume.capacity_for(limits.max_output_bytes, limits.max_output_files),
        limits.tmpfs_mb * MiB,
    )
    return [
        docker, "run", "--rm", "--network", limits.network.value, "--read-only",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--user", user,
        "--ipc", "private", "--pids-limit", str(limits.pids), "--memory", memory,
        "--memory-swap", memory, "--shm-size", f"{min(64, limits.memory_mb)}m",
        "--cpus", str(limits.cpu), "--oom-score-adj", "1000",
        "--tmpfs", f"/tmp:rw,noexec,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777",
        "--log-driver", "json-file", "--log-opt", f"max-size={limits.max_log_bytes}",
        "--log-opt", "max-file=2",  # by hand the logs are read with docker logs
        "--init", "--ulimit", "nofile=1024:1024",
        "--ulimit", f"fsize={largest_file}:{largest_file}", "--ulimit", "core=0:0",
        *out, image, *argv,
    ]  # fmt: skip
