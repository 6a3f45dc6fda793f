"""Overhead of one trivial job through the executor vs. a bare ``docker run --rm``.

Both run ``true`` in the busybox job image with the same hardened limits; the executor also
creates and mounts the size-limited /out, saves the logs, collects /out and writes the result.
Prints medians of N runs (after one warm-up each). Needs root and a Docker engine::

    .venv/bin/python -m bench.executor_overhead [--runs 5]     # or: make bench-executor
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import click

from jobmarket.docker_engine import DEFAULT_IMAGE, docker_client, ensure_engine, ensure_image
from provider_node.executor import DockerExecutor, ExecutionRequest, Limits
from provider_node.executor.profile import docker_run_command

LIMITS = Limits(cpu=1.0, memory_mb=256, pids=64, timeout_s=60.0, tmpfs_mb=64)


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


@click.command()
@click.option("--runs", default=5, show_default=True, help="Timed runs per variant.")
def main(runs: int) -> None:
    ensure_engine()
    client = docker_client()
    ensure_image(DEFAULT_IMAGE, client)
    docker = shutil.which("docker")
    if docker is None:
        raise click.ClickException("the docker CLI is missing (apt-get install docker.io)")
    command = docker_run_command(LIMITS, DEFAULT_IMAGE, ["true"], docker=docker)

    with tempfile.TemporaryDirectory(prefix="executor-bench-") as work:
        executor = DockerExecutor("bench-node", client=client, work_root=Path(work))

        def one_job() -> None:
            key = f"bench-{uuid.uuid4().hex[:12]}"
            request = ExecutionRequest(key=key, image=DEFAULT_IMAGE, argv=("true",), limits=LIMITS)
            result = executor.run(request)
            assert result.status == "succeeded", result
            executor.remove(key, purge=True)

        def bare() -> None:
            subprocess.run(command, check=True, capture_output=True)

        one_job()
        bare()
        executor_times, bare_times = [], []
        for _ in range(runs):  # interleaved, so load from elsewhere hits both alike
            executor_times.append(timed(one_job))
            bare_times.append(timed(bare))
        executor.close()

    executor_median = statistics.median(executor_times)
    bare_median = statistics.median(bare_times)
    click.echo(f"trivial job, median of {runs}:")
    click.echo(f"  executor (start, wait, collect, remove): {executor_median * 1000:7.1f} ms")
    click.echo(f"  bare docker run --rm, same limits:       {bare_median * 1000:7.1f} ms")
    overhead = executor_median - bare_median
    click.echo(f"  overhead: {overhead * 1000:+.1f} ms ({executor_median / bare_median:.2f}x)")


if __name__ == "__main__":
    main()
