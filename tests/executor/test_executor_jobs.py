"""Ordinary jobs through the executor, against a real dockerd: outputs, exit codes, logs,
the hardened profile as Docker applied it, and a missing image."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import docker
import pytest

from provider_node.executor import (
    DockerExecutor,
    ExecutionRequest,
    ExecutionStatus,
    ImageNotAvailable,
    Limits,
    NetworkMode,
    NodePolicy,
    Phase,
)
from provider_node.executor.volume import OutputVolume

FAST_OUTPUT_BYTES = 16 * 1024 * 1024  # conftest.FAST_LIMITS.max_output_bytes
# Docker may report a very short run's FinishedAt a millisecond before its StartedAt.
DOCKER_CLOCK_SLACK = timedelta(milliseconds=50)


def test_job_reads_inputs_and_its_outputs_come_back(
    executor: DockerExecutor, request_for, tmp_path: Path, docker_api: docker.DockerClient
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "data.txt").write_text("hello jobs\n")
    script = (
        "sha256sum /in/data.txt | cut -d' ' -f1 > /out/digest.txt;"
        "mkdir /out/nested && echo $GREETING > /out/nested/greeting.txt;"
        "echo finished"
    )
    request = request_for(script, inputs=inputs, env={"GREETING": "hi there"})

    result = executor.run(request)

    assert result.status == ExecutionStatus.SUCCEEDED
    assert result.exit_code == 0
    expected = hashlib.sha256(b"hello jobs\n").hexdigest()
    assert (result.output_dir / "digest.txt").read_text() == expected + "\n"
    assert (result.output_dir / "nested" / "greeting.txt").read_text() == "hi there\n"
    assert [f.path for f in result.outputs] == ["digest.txt", "nested/greeting.txt"]
    assert result.outputs[0].sha256 == hashlib.sha256((expected + "\n").encode()).hexdigest()
    assert result.stdout_tail == "finished\n"
    assert result.stdout_path.read_text() == "finished\n"
    assert result.image_id == docker_api.images.get(request.image).id
    assert result.started_at is not None
    assert result.finished_at >= result.started_at - DOCKER_CLOCK_SLACK
    assert 0 <= result.runtime_s < 10
    applied = result.applied_limits()  # what the result manifest records
    assert (applied.user, applied.read_only_root, applied.network) == ("65534:65534", True, "none")
    assert applied.max_output_bytes == request.limits.max_output_bytes
    saved = json.loads((result.output_dir.parent / "result.json").read_text())
    assert saved["status"] == "succeeded" and saved["outputs"][0]["path"] == "digest.txt"


def test_nonzero_exit_is_a_result_with_its_code_and_stderr_tail(
    executor: DockerExecutor, request_for
) -> None:
    result = executor.run(request_for("echo partial > /out/p; echo 'it broke' >&2; exit 7"))

    assert result.status == ExecutionStatus.FAILED
    assert result.exit_code == 7
    assert result.stderr_tail == "it broke\n"
    assert result.stderr_path.read_text() == "it broke\n"
    assert [f.path for f in result.outputs] == ["p"]  # outputs of failed jobs are kept too


def test_unknown_command_fails_with_exit_127(executor: DockerExecutor, job_image: str) -> None:
    result = executor.run(ExecutionRequest(key="no-such-cmd", image=job_image, argv=("nope",)))

    assert result.status == ExecutionStatus.FAILED
    assert result.exit_code == 127
    assert "nope" in result.stderr_tail


def test_missing_image_is_a_distinct_error_and_leaves_nothing(
    executor: DockerExecutor, request_for, work_root: Path
) -> None:
    request = request_for("true", image="jobmarket/never-built:1")

    with pytest.raises(ImageNotAvailable, match="not on this node"):
        executor.start(request)

    assert executor.find_job_containers() == []
    assert not (work_root / request.key / "out.img").exists()


def test_hardened_profile_as_docker_applied_it(
    make_executor, request_for, docker_api: docker.DockerClient
) -> None:
    policy = NodePolicy(ceiling=Limits(cpu=0.5, memory_mb=64, pids=48, timeout_s=60.0))
    executor = make_executor(policy)
    # The request asks for more than the policy allows, and for network: all clamped.
    request = request_for(
        "sleep 30", cpu=4.0, memory_mb=4096, pids=1000, network="bridge", max_log_bytes=65536
    )

    job = executor.start(request)
    info = docker_api.api.inspect_container(job.container_id)
    executor.remove(job)

    host = info["HostConfig"]
    assert info["Name"] == f"/jobmarket-{request.key}"
    assert info["Config"]["User"] == "65534:65534"
    assert info["Config"]["Labels"]["jobmarket.job"] == request.key
    assert info["Config"]["Labels"]["jobmarket.node"] == executor.node_id
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["Init"] is True
    assert host["IpcMode"] == "private"
    assert host["OomScoreAdj"] == 1000
    assert host["PidsLimit"] == 48
    assert host["Memory"] == host["MemorySwap"] == 64 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    # No Docker log files: the job's supervisor keeps each stream in its own capped file.
    assert host["LogConfig"]["Type"] == "none"
    assert "size=64m" in host["Tmpfs"]["/tmp"]
    ulimits = {u["Name"]: u["Hard"] for u in host["Ulimits"]}
    assert ulimits["nofile"] == 1024 and ulimits["core"] == 0
    # One file can be no larger than /out's filesystem or /tmp (64 MiB), whichever is larger.
    assert ulimits["fsize"] == max(OutputVolume.capacity_for(FAST_OUTPUT_BYTES), 64 << 20)
    out = next(m for m in info["Mounts"] if m["Destination"] == "/out")
    assert out["Type"] == "bind" and out["RW"] is True
    assert job.limits.network == NetworkMode.NONE and job.limits.memory_mb == 64


def test_logs_are_capped_and_tails_kept(executor: DockerExecutor, request_for) -> None:
    script = "yes 0123456789abcdef | head -c 3000000; echo; echo last-line"
    result = executor.run(request_for(script, max_log_bytes=65536))

    assert result.status == ExecutionStatus.SUCCEEDED
    assert result.logs_truncated is True
    assert result.stdout_dropped_bytes == 3000000 + len("\nlast-line\n") - 65536
    assert result.stdout_path.stat().st_size <= 65536
    assert result.stdout_tail.endswith("0123456789\nlast-line\n")  # head cut the last line
    assert len(result.stdout_tail) <= 4096


def test_find_job_containers_reports_phases(executor: DockerExecutor, request_for) -> None:
    long_job = executor.start(request_for("sleep 30"))
    short_job = executor.start(request_for("true"))
    executor.wait(short_job)

    phases = {job.key: job.phase for job in executor.find_job_containers()}
    assert phases == {long_job.key: Phase.RUNNING, short_job.key: Phase.EXITED}

    executor.collect(short_job)
    phases = {job.key: job.phase for job in executor.find_job_containers()}
    assert phases[short_job.key] == Phase.COLLECTED

    executor.remove(long_job)
    assert [job.key for job in executor.find_job_containers()] == [short_job.key]
