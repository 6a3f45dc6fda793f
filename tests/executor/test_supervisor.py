"""The job's supervisor, a process of its own: both output streams kept separately (their
tails and what was dropped recorded), and the wall-clock limit enforced while no node runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker

from jobmarket.spec.result import LogCapture
from provider_node.executor import DockerExecutor, ExecutionStatus, Phase, supervisor
from provider_node.executor.watchdog import parse_docker_time

CAP = 65536
FLOOD = 3_000_000


def test_both_streams_flooding_keep_both_tails_and_record_what_was_dropped(
    executor: DockerExecutor, request_for, deliver
) -> None:
    # Seen with Docker's json-file logs: stdout.log came back empty (even the line printed
    # after the flood), status succeeded, no mark of the loss.
    script = (
        f"(yes outline | head -c {FLOOD}; echo out-last) &"
        f" (yes errline | head -c {FLOOD} >&2; echo err-last >&2); wait"
    )
    result = executor.run(request_for(script, max_log_bytes=CAP))

    assert result.status == ExecutionStatus.SUCCEEDED
    assert result.stdout_tail.endswith("outline\nout-last\n")
    assert result.stderr_tail.endswith("errline\nerr-last\n")
    written = FLOOD + len("out-last\n")
    assert result.stdout_path.stat().st_size == result.stderr_path.stat().st_size == CAP
    assert result.stdout_dropped_bytes == result.stderr_dropped_bytes == written - CAP
    assert result.logs_complete and result.logs_truncated

    manifest, fetched = deliver(result)
    dropped = LogCapture(truncated=True, dropped_bytes=written - CAP, complete=True)
    assert manifest.logs.stdout_capture == manifest.logs.stderr_capture == dropped
    assert (fetched / "logs" / "stdout.log").read_bytes().endswith(b"outline\nout-last\n")
    assert (fetched / "logs" / "stderr.log").read_bytes().endswith(b"errline\nerr-last\n")


def test_quiet_streams_are_complete_and_untruncated(executor: DockerExecutor, request_for) -> None:
    result = executor.run(request_for("echo out; echo err >&2; sleep 1; echo out-again"))

    assert result.stdout_path.read_text() == "out\nout-again\n"
    assert result.stderr_path.read_text() == "err\n"
    assert result.log_capture("stdout") == LogCapture(truncated=False, dropped_bytes=0)
    assert not result.logs_truncated


# A provider node reduced to what matters here: it starts a job, reports its container, and
# then waits to be killed.
NODE = """
import json, sys, time
from pathlib import Path
from provider_node.executor import DockerExecutor, ExecutionRequest, Limits
node_id, work_root, key, image, script, limits = sys.argv[1:]
executor = DockerExecutor(node_id, work_root=Path(work_root))
request = ExecutionRequest(key=key, image=image, argv=("sh", "-c", script),
                           limits=Limits.from_dict(json.loads(limits)))
print(executor.start(request).container_id, flush=True)
time.sleep(600)
"""


def test_the_deadline_holds_while_the_node_is_dead(
    make_executor, request_for, node_id: str, work_root: Path, docker_api: docker.DockerClient
) -> None:
    # Seen: a 20 s job still running at 45 s while the node was down.
    timeout = 4.0
    request = request_for("echo begin; echo err-begin >&2; sleep 60; echo never", timeout_s=timeout)
    node = subprocess.Popen(
        [sys.executable, "-c", NODE, node_id, str(work_root), request.key, request.image,
         request.argv[2], json.dumps(request.limits.to_dict())],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    container_id = node.stdout.readline().strip()
    node.kill()  # kill -9: no watchdog, no executor left anywhere
    assert node.wait() == -signal.SIGKILL
    node.stdout.close()

    state = docker_api.api.inspect_container(container_id)["State"]
    for _ in range(600):  # poll until Docker reports the stop; the figures come from Docker
        if not state["Running"]:
            break
        time.sleep(0.05)
        state = docker_api.api.inspect_container(container_id)["State"]
    ran = parse_docker_time(state["FinishedAt"]) - parse_docker_time(state["StartedAt"])
    assert not state["Running"]
    assert timeout <= ran.total_seconds() < timeout + 1.5  # killed at its deadline

    restarted = make_executor()  # the node comes back, long after the deadline
    [job] = restarted.find_job_containers()
    assert job.phase == Phase.EXITED
    restarted.wait(job)
    result = restarted.collect(job)
    assert result.status == ExecutionStatus.TIMEOUT
    assert timeout <= result.runtime_s < timeout + 1.5  # the real run, not the time away
    assert result.applied_limits().timeout_s == timeout
    # The logs were captured while no node ran.
    assert (result.stdout_tail, result.stderr_tail) == ("begin\n", "err-begin\n")
    assert result.logs_complete and not result.logs_truncated


def test_a_supervisor_that_died_is_replaced_and_the_gap_is_recorded(
    executor: DockerExecutor, request_for
) -> None:
    job = executor.start(request_for("echo first; sleep 3; echo second", timeout_s=30))
    jobdir = executor.jobdir(job.key)
    first = json.loads(jobdir.supervisor_marker.read_text())["pid"]
    for _ in range(200):
        if (jobdir.logs / "stdout.log").read_text() == "first\n":
            break
        time.sleep(0.01)
    os.kill(first, signal.SIGKILL)
    while supervisor.is_running(jobdir):  # until the kernel has released its lock
        time.sleep(0.01)

    executor.wait(job)  # notices no supervisor runs and starts one for the rest
    result = executor.collect(job)

    assert json.loads(jobdir.supervisor_marker.read_text())["pid"] != first
    assert result.stdout_path.read_text() == "first\nsecond\n"
    assert result.log_capture("stdout") == LogCapture(
        truncated=True, dropped_bytes=0, complete=False
    )
