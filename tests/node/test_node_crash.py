"""Crash recovery: the node is SIGKILLed at each step of a job (through its test hook,
``JOBMARKET_NODE_CRASH_AT``) and restarted; every time the job completes exactly once — one
claim transaction, one submit transaction, one container run."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from node_world import (
    PROVIDER,
    PROVIDER_ADDRESS,
    Market,
    container_name,
    container_starts,
    node_id,
    remove_node_containers,
    shell_job,
)
from support.node import ProviderNode, register_provider

from jobmarket.chain.states import JobState
from jobmarket.docker_engine import DEFAULT_IMAGE
from provider_node.dev.crashpoints import POINTS
from provider_node.executor import DockerExecutor, ExecutionRequest, Limits

# One line per run in /out/runs; the sleep keeps the container running across a crash.
SCRIPT = "echo run >> /out/runs; sleep 2; echo done"


@pytest.fixture(scope="module")
def provider(market: Market, docker_api: docker.DockerClient) -> Iterator[ProviderNode]:
    """A registered provider whose node each test starts (and crashes) itself."""
    register_provider(market.url, market.home, account=PROVIDER, stake="1 ether")
    node = ProviderNode(rpc_url=market.url, home=market.home, account=PROVIDER)
    yield node
    node.stop()
    remove_node_containers(market, docker_api)


@pytest.fixture(autouse=True)
def _node_stopped_after_each_test(provider: ProviderNode) -> Iterator[None]:
    yield
    provider.stop()


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_any_step_completes_the_job_exactly_once(
    point: str,
    market: Market,
    provider: ProviderNode,
    docker_api: docker.DockerClient,
    tmp_path: Path,
) -> None:
    since = time.time()
    job_id = market.post(shell_job(SCRIPT))

    provider.start(crash_at=f"{point}:{job_id}")
    assert provider.wait_exit(timeout=60) == -signal.SIGKILL
    provider.start()
    provider.wait_for_step(job_id, "submitted", timeout=60)  # before or after the crash
    manifest = market.fetch(job_id, tmp_path / "result")
    market.accept(job_id)
    provider.wait_for_step(job_id, "settled", timeout=30)
    provider.stop()

    assert len(market.calls("claim", PROVIDER_ADDRESS, job_id)) == 1
    assert len(market.calls("submit_result", PROVIDER_ADDRESS, job_id)) == 1
    assert container_starts(docker_api, container_name(provider, job_id), since) == 1
    assert manifest.status == "succeeded"
    assert (tmp_path / "result" / "outputs" / "runs").read_text() == "run\n"
    assert market.job(job_id).state == JobState.ACCEPTED
    leftovers = docker_api.containers.list(
        all=True, filters={"name": container_name(provider, job_id)}
    )
    assert leftovers == []


def test_a_crash_between_creating_and_starting_the_container_runs_the_job_once(
    market: Market, provider: ProviderNode, docker_api: docker.DockerClient, tmp_path: Path
) -> None:
    since = time.time()
    job_id = market.post(shell_job(SCRIPT))
    provider.start(crash_at=f"claimed:{job_id}")
    assert provider.wait_exit(timeout=60) == -signal.SIGKILL
    # No test hook sits inside the executor: create the container as the node's executor
    # would have just before the crash, and leave it never started.
    node = node_id(provider)
    executor = DockerExecutor(
        node, client=docker_api, work_root=market.home / "nodes" / node / "jobs"
    )
    request = ExecutionRequest(
        key=f"{node}-{job_id}",
        image=DEFAULT_IMAGE,
        argv=("sh", "-c", SCRIPT),
        limits=Limits(timeout_s=60.0),
    )
    try:
        executor._create(request, request.limits, executor.jobdir(request.key))
    finally:
        executor.close()
    assert docker_api.containers.get(container_name(provider, job_id)).status == "created"

    provider.start()
    provider.wait_for_step(job_id, "submitted", timeout=60)
    manifest = market.fetch(job_id, tmp_path / "result")

    assert "abandoned" not in provider.steps_of(job_id)
    assert market.calls("abandon", PROVIDER_ADDRESS, job_id) == []
    assert len(market.calls("claim", PROVIDER_ADDRESS, job_id)) == 1
    assert len(market.calls("submit_result", PROVIDER_ADDRESS, job_id)) == 1
    assert container_starts(docker_api, container_name(provider, job_id), since) == 1
    assert manifest.status == "succeeded"
    assert (tmp_path / "result" / "outputs" / "runs").read_text() == "run\n"


def test_sigterm_mid_run_leaves_the_job_tracked_and_a_restart_delivers_it(
    market: Market, provider: ProviderNode, docker_api: docker.DockerClient, tmp_path: Path
) -> None:
    since = time.time()
    job_id = market.post(shell_job("echo run >> /out/runs; sleep 6; echo done"))
    provider.args = ["--shutdown-grace", "1"]  # shorter than the job: it is left running
    try:
        provider.start()
        provider.wait_for_step(job_id, "running", timeout=30)
        started_stop = time.monotonic()
        assert provider.stop() == 0
    finally:
        provider.args = []
    stop_took = time.monotonic() - started_stop
    running = docker_api.containers.list(filters={"name": container_name(provider, job_id)})
    stopped = provider.events("stopped")[-1]
    status_while_down = provider.status()

    restart = provider.mark()
    provider.start()
    provider.wait_for_step(job_id, "submitted", timeout=60, since=restart)
    manifest = market.fetch(job_id, tmp_path / "result")

    assert stop_took < 5  # the grace period, not the job's run time
    assert [c.status for c in running] == ["running"]  # left running, labelled, journaled
    assert stopped["jobs_left_in_progress"] == f"{job_id}:running"
    assert not status_while_down["running"]
    assert (job_id, "running") in [(j["job_id"], j["step"]) for j in status_while_down["in_flight"]]
    assert container_starts(docker_api, container_name(provider, job_id), since) == 1
    assert (tmp_path / "result" / "outputs" / "runs").read_text() == "run\n"
    assert manifest.status == "succeeded"


def test_a_second_node_on_the_same_account_is_refused(
    market: Market, provider: ProviderNode
) -> None:
    provider.start()
    twin = ProviderNode(
        rpc_url=market.url, home=market.home, account=PROVIDER, log_path=market.home / "twin.log"
    )
    twin.start(wait_ready=False)
    code = twin.wait_exit(timeout=30)

    assert code != 0
    assert "already serving" in twin.tail()
