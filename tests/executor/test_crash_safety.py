"""What a provider node relies on to survive its own crash: a job never runs twice, and a new
executor (a restarted node) finds, waits for, collects and removes what an earlier one started."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest

from jobmarket.docker_engine import docker_client
from provider_node.executor import (
    ContainerConflict,
    DockerExecutor,
    ExecutionStatus,
    ExecutorError,
    NotStopped,
    Phase,
)


def loop_devices(under: Path) -> set[str]:
    """Loop devices mounted below ``under`` (other tests on this host have their own)."""
    return {line.split()[0] for line in Path("/proc/mounts").read_text().splitlines()
            if line.startswith("/dev/loop") and line.split()[1].startswith(str(under))}  # fmt: skip


def backing_file(device: str) -> str:
    """The file a loop device is attached to; empty once it was released."""
    path = Path("/sys/block") / Path(device).name / "loop" / "backing_file"
    return path.read_text().strip() if path.exists() else ""


def test_start_is_idempotent_and_never_runs_a_job_twice(
    executor: DockerExecutor, request_for, docker_api: docker.DockerClient
) -> None:
    request = request_for("echo run >> /out/runs; sleep 1")

    first = executor.start(request)
    again_while_running = executor.start(request)
    executor.wait(first)
    again_after_exit = executor.start(request)  # must not restart the exited container
    executor.wait(again_after_exit)
    result = executor.collect(first)

    assert first.container_id == again_while_running.container_id
    assert first.container_id == again_after_exit.container_id
    assert len(docker_api.containers.list(all=True, filters={"name": first.name})) == 1
    assert docker_api.api.inspect_container(first.container_id)["RestartCount"] == 0
    assert (result.output_dir / "runs").read_text() == "run\n"  # one run, not two


def test_a_restarted_node_waits_with_the_original_deadline(
    make_executor, request_for, container_processes
) -> None:
    before = make_executor()
    job = before.start(request_for("while :; do :; done", timeout_s=3.0))
    before.close()  # the node "crashes": its watchdog is gone, the container keeps running
    time.sleep(2.0)

    after = make_executor(client=docker_client())
    [found] = after.find_job_containers()
    assert (found.key, found.phase) == (job.key, Phase.RUNNING)
    state = after.wait(found)
    result = after.collect(found)

    assert state.timed_out
    assert result.status == ExecutionStatus.TIMEOUT
    # Killed at StartedAt + 3 s (the deadline), not 3 s after the new executor began waiting
    # (which would be 5 s or more).
    assert 3.0 <= result.runtime_s < 4.5
    assert container_processes(job.container_id) == []


def test_a_job_that_finished_while_no_node_ran_is_collected_afterwards(
    make_executor, request_for
) -> None:
    before = make_executor()
    job = before.start(request_for("echo made-before-crash > /out/result"))
    before.close()
    time.sleep(0.5)

    after = make_executor(client=docker_client())
    [found] = after.find_job_containers()
    assert found.phase == Phase.EXITED
    state = after.wait(found)  # returns at once
    result = after.collect(found)

    assert state.exit_code == 0 and not state.timed_out
    assert (result.output_dir / "result").read_text() == "made-before-crash\n"
    assert result.key == job.key


def test_a_container_created_but_never_started_is_started_once(
    executor: DockerExecutor, request_for
) -> None:
    # The node crashed between creating the container and starting it.
    request = request_for("echo run >> /out/runs")
    limits = request.limits.clamped_to(executor.policy.ceiling)
    executor._create(request, limits, executor.jobdir(request.key))
    [created] = executor.find_job_containers()
    assert created.phase == Phase.CREATED
    with pytest.raises(NotStopped):
        executor.collect(created)

    result = executor.run(request)

    assert result.status == ExecutionStatus.SUCCEEDED
    assert (result.output_dir / "runs").read_text() == "run\n"


def test_collect_is_idempotent_and_remove_cleans_up(
    executor: DockerExecutor, request_for, work_root: Path, docker_api: docker.DockerClient
) -> None:
    assert loop_devices(work_root) == set()
    job = executor.start(request_for("echo kept > /out/kept"))
    mountpoint = work_root / job.key / "out"
    assert mountpoint.is_mount()
    [device] = loop_devices(work_root)
    assert backing_file(device) == str(work_root / job.key / "out.img")
    executor.wait(job)
    first = executor.collect(job)

    executor.remove(job)

    assert docker_api.containers.list(all=True, filters={"name": job.name}) == []
    assert not mountpoint.exists() and not (work_root / job.key / "out.img").exists()
    assert loop_devices(work_root) == set()  # the loop device went with the unmount
    assert backing_file(device) != str(work_root / job.key / "out.img")
    assert executor.collect(job) == first  # from result.json, no container needed
    assert (first.output_dir / "kept").read_text() == "kept\n"
    executor.remove(job, purge=True)
    assert not (work_root / job.key).exists()


def test_collect_refuses_a_running_job_and_a_vanished_one(
    executor: DockerExecutor, request_for
) -> None:
    job = executor.start(request_for("sleep 30"))
    with pytest.raises(NotStopped, match="is running"):
        executor.collect(job)
    executor.remove(job)
    with pytest.raises(ExecutorError, match="gone"):
        executor.collect(job)


def test_nodes_see_only_their_own_jobs_and_never_share_a_container(
    make_executor, request_for, docker_api: docker.DockerClient, tmp_path: Path
) -> None:
    mine = make_executor()
    other = DockerExecutor("other-node-of-test", client=docker_api, work_root=tmp_path / "other")
    request = request_for("sleep 30")
    try:
        job = mine.start(request)
        assert other.find_job_containers() == []
        with pytest.raises(ContainerConflict, match="belongs to node"):
            other.start(request)
        assert [j.key for j in mine.find_job_containers()] == [job.key]
    finally:
        other.close()
