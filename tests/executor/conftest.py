"""Fixtures for the executor tests: a real dockerd (started if needed), the busybox job image,
and one executor per test with its own node id and work folder, cleaned up afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from jobmarket.content.embedded import EmbeddedStore
from jobmarket.docker_engine import DEFAULT_IMAGE, docker_client, ensure_engine, ensure_image
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import ResultManifest
from jobmarket.spec.result_dir import check_result_tree
from provider_node.executor import (
    DockerExecutor,
    ExecutionRequest,
    ExecutionResult,
    Limits,
    NodePolicy,
)
from provider_node.io.results import publish_execution


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the executor mounts a size-limited /out per job (and mknod): needs root")


FAST_LIMITS = Limits(timeout_s=30.0, memory_mb=128, pids=64, max_output_bytes=16 * 1024 * 1024)


@pytest.fixture(scope="session")
def docker_api() -> docker.DockerClient:
    """The real engine: started through ensure_engine() when it is not running yet."""
    ensure_engine()
    return docker_client()


@pytest.fixture(scope="session")
def job_image(docker_api: docker.DockerClient) -> str:
    ensure_image(DEFAULT_IMAGE, docker_api)
    return DEFAULT_IMAGE


@pytest.fixture
def node_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


@pytest.fixture
def make_executor(
    docker_api: docker.DockerClient, job_image: str, node_id: str, work_root: Path
) -> Iterator[Callable[..., DockerExecutor]]:
    """Executors for this test's node; all its containers and mounts are removed afterwards."""
    made: list[DockerExecutor] = []

    def make(policy: NodePolicy | None = None, client: docker.DockerClient | None = None):
        executor = DockerExecutor(
            node_id, client=client or docker_api, policy=policy, work_root=work_root
        )
        made.append(executor)
        return executor

    yield make
    cleaner = DockerExecutor(node_id, client=docker_api, work_root=work_root)
    for job in cleaner.find_job_containers():
        cleaner.remove(job, purge=True)
    for executor in [*made, cleaner]:
        executor.close()
    leftover = [line for line in Path("/proc/self/mounts").read_text().splitlines()
                if str(work_root) in line]  # fmt: skip
    assert not leftover, f"mounts left behind: {leftover}"


@pytest.fixture
def executor(make_executor: Callable[..., DockerExecutor]) -> DockerExecutor:
    return make_executor()


@pytest.fixture
def request_for(job_image: str) -> Callable[..., ExecutionRequest]:
    """``request_for("echo hi", pids=32)``: a shell-script job with FAST_LIMITS overridden."""

    def build(
        script: str,
        *,
        key: str | None = None,
        image: str | None = None,
        inputs: Path | None = None,
        env: dict[str, str] | None = None,
        **limits: object,
    ) -> ExecutionRequest:
        merged = {**FAST_LIMITS.to_dict(), **limits}
        return ExecutionRequest(
            key=key or f"job-{uuid.uuid4().hex[:12]}",
            image=image or job_image,
            argv=("sh", "-c", script),
            env=env or {},
            inputs=inputs,
            limits=Limits.from_dict(merged),
        )

    return build


def _container_processes(container_id: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if container_id in (entry / "cgroup").read_text():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture
def container_processes() -> Callable[[str], list[int]]:
    """Host pids whose cgroup belongs to a container (empty once it is really gone)."""
    return _container_processes


@pytest.fixture
def assert_still_serves(
    request_for: Callable[..., ExecutionRequest],
) -> Callable[[DockerExecutor], None]:
    """After a hostile job, the same executor runs an ordinary job normally."""

    def check(executor: DockerExecutor) -> None:
        result = executor.run(request_for("echo still-alive > /out/ok; echo done"))
        assert result.status == "succeeded", result
        assert (result.output_dir / "ok").read_text() == "still-alive\n"

    return check


@pytest.fixture
def deliver(
    tmp_path: Path, job_image: str
) -> Callable[[ExecutionResult], tuple[ResultManifest, Path]]:
    """Publish a result as the node does, fetch it back from the store as a requester does,
    and verify it (check_result_tree): the manifest and the verified folder."""
    store = EmbeddedStore(tmp_path / "store", fsync=False)
    spec = JobSpec(image=job_image, command=["sh"])
    count = iter(range(1, 1000))

    def run(result: ExecutionResult) -> tuple[ResultManifest, Path]:
        job_id = next(count)
        cid, published = publish_execution(
            store,
            result,
            job_id=job_id,
            spec=spec,
            spec_cid=spec.cid,
            folder=tmp_path / "results" / str(job_id),
        )
        fetched = tmp_path / f"fetched-{job_id}"
        store.get(cid, fetched)
        manifest = check_result_tree(fetched, job_id=job_id)
        assert manifest == published
        return manifest, fetched

    return run
