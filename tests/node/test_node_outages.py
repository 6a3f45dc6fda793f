"""The node rides out an RPC outage: it keeps running, retries with backoff, and once the RPC
answers again it picks up what it missed and finishes the job it had in hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from node_world import (
    PROVIDER,
    PROVIDER_ADDRESS,
    Market,
    TcpRelay,
    remove_node_containers,
    shell_job,
)
from support.flaky_rpc import FlakyRpcRelay
from support.node import ProviderNode, register_provider

from jobmarket.chain.states import JobState
from jobmarket.devnet import free_port

FLAKY_START_ACCOUNT = "TEST::4"


@pytest.fixture(scope="module")
def relay(market: Market) -> Iterator[TcpRelay]:
    relay = TcpRelay(market.anvil.port).start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def node_via_relay(
    market: Market, relay: TcpRelay, docker_api: docker.DockerClient
) -> Iterator[ProviderNode]:
    register_provider(market.url, market.home, account=PROVIDER, stake="1 ether")
    node = ProviderNode(rpc_url=relay.url, home=market.home, account=PROVIDER)
    node.start()
    yield node
    node.stop()
    remove_node_containers(market, docker_api)


def test_jobs_posted_during_an_outage_are_taken_once_the_rpc_is_back(
    market: Market, relay: TcpRelay, node_via_relay: ProviderNode
) -> None:
    relay.stop()
    job_id = market.post(shell_job("echo after the outage"))
    time.sleep(3)
    during = node_via_relay.events("loop-error")

    relay.start()
    node_via_relay.wait_for_step(job_id, "submitted", timeout=60)

    assert node_via_relay.running
    assert during and "ConnectionError" in during[-1]["error"]
    # One outage, one warning: its retries (backing off 0.5, 1, 2 s …) are not each logged.
    assert [e["retry_in"] for e in during] == ["0.5"]


def test_an_outage_mid_job_delays_the_submit_but_never_repeats_a_step(
    market: Market, relay: TcpRelay, node_via_relay: ProviderNode, tmp_path: Path
) -> None:
    job_id = market.post(shell_job("echo run >> /out/runs; sleep 2"))
    node_via_relay.wait_for_step(job_id, "running", timeout=30)
    relay.stop()
    time.sleep(5)  # the job ends and is pinned meanwhile; the submit cannot be sent
    relay.start()

    node_via_relay.wait_for_step(job_id, "submitted", timeout=90)
    manifest = market.fetch(job_id, tmp_path / "result")

    assert node_via_relay.steps_of(job_id) == [
        "seen",
        "claiming",
        "claimed",
        "running",
        "pinned",
        "submitted",
    ]
    assert len(market.calls("claim", PROVIDER_ADDRESS, job_id)) == 1
    assert len(market.calls("submit_result", PROVIDER_ADDRESS, job_id)) == 1
    assert manifest.status == "succeeded"
    assert (tmp_path / "result" / "outputs" / "runs").read_text() == "run\n"
    assert market.job(job_id).state == JobState.SUBMITTED


def test_start_up_survives_dropped_connections(market: Market, tmp_path: Path) -> None:
    """With 15 % of connections reset (FAULT INJECTION: FlakyRpcRelay stands in for a bad
    network in front of the real anvil), every start reaches ``ready``: start-up retries
    transient failures with bounded backoff and never prints a traceback."""
    register_provider(market.url, market.home, account=FLAKY_START_ACCOUNT, stake="1 ether")
    for seed in (1, 2, 3):
        with FlakyRpcRelay(market.anvil.port, reset_ratio=0.15, seed=seed) as flaky:
            node = ProviderNode(
                rpc_url=flaky.url,
                home=market.home,
                account=FLAKY_START_ACCOUNT,
                log_path=tmp_path / f"start-{seed}.log",
            )
            node.start(timeout=90)
            assert node.running
            node.stop()
            assert flaky.counts["reset"] > 0, flaky.counts  # faults were really injected
        assert "Traceback" not in (tmp_path / f"start-{seed}.log").read_text()


def test_start_up_that_cannot_reach_the_rpc_gives_up_with_one_line(tmp_path: Path) -> None:
    """Nothing listens: after its bounded retries the node says so in one line, exit 3."""
    node = ProviderNode(
        rpc_url=f"http://127.0.0.1:{free_port()}",
        home=tmp_path,
        account=FLAKY_START_ACCOUNT,
        log_path=tmp_path / "unreachable.log",
    )
    node.start(wait_ready=False)
    assert node.wait_exit(timeout=60) == 3
    output = (tmp_path / "unreachable.log").read_text()
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in output, output
    assert output.strip().splitlines() == errors  # the retries are quiet without -v
