"""The metrics hooks at the node's single points, with a real journal: a rolled-back move is
never counted, one outage logged once is still counted every time, and each failure is told
apart by the service it came from (real clients failing for real)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import docker
import pytest
import requests
from unit_support import posted
from web3 import HTTPProvider, Web3

from jobmarket.content.kubo import KuboStore
from jobmarket.errors import Unreachable
from provider_node import metrics
from provider_node.context import logs
from provider_node.journal.store import Journal
from provider_node.lifecycle.advance import advance
from provider_node.lifecycle.steps import Step


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def installed() -> Iterator[metrics.NodeMetrics]:
    node_metrics = metrics.NodeMetrics()
    metrics.install(node_metrics)
    yield node_metrics
    metrics.uninstall(node_metrics)


def _value(node_metrics: metrics.NodeMetrics, name: str, **labels: str) -> float:
    found = node_metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_moves_count_once_committed_and_never_when_rolled_back(
    journal: Journal, installed: metrics.NodeMetrics
) -> None:
    journal.record_posted(posted(1))
    journal.record_posted(posted(2))
    advance(journal, 1, Step.CLAIMING)
    with pytest.raises(RuntimeError), journal.transaction():
        advance(journal, 1, Step.CLAIMED, work_deadline=10**9)
        raise RuntimeError("the write that followed failed")
    rolled_back = _value(installed, "jobmarket_node_claims_total", result="won")
    advance(journal, 1, Step.CLAIMED, work_deadline=10**9)
    advance(journal, 2, Step.LOST, reason="claimed first by a rival")

    assert rolled_back == 0
    assert _value(installed, "jobmarket_node_claims_total", result="won") == 1
    assert _value(installed, "jobmarket_node_claims_total", result="lost") == 1
    assert _value(installed, "jobmarket_node_job_outcomes_total", outcome="lost") == 1


def test_claim_to_submit_is_read_from_the_deadlines_the_contract_set(
    journal: Journal, installed: metrics.NodeMetrics
) -> None:
    job = posted(3)  # work_timeout 300, review_window 60
    journal.record_posted(job)
    claimed_at, submitted_at = 1_000_000, 1_000_042
    advance(journal, 3, Step.CLAIMING)
    advance(journal, 3, Step.CLAIMED, work_deadline=claimed_at + job.work_timeout)
    advance(journal, 3, Step.RUNNING)
    advance(journal, 3, Step.PINNED, log_fields={"runtime_s": 7.5})
    advance(journal, 3, Step.SUBMITTED, review_deadline=submitted_at + job.review_window)

    assert _value(installed, "jobmarket_node_claim_to_submit_seconds_sum") == 42
    assert _value(installed, "jobmarket_node_container_run_seconds_sum") == 7.5


def test_one_outage_is_one_warning_line_but_every_failure_counts(
    node_log: pytest.LogCaptureFixture, installed: metrics.NodeMetrics
) -> None:
    log = logging.getLogger("provider_node")
    url = f"http://127.0.0.1:{_closed_port()}"
    for _ in range(5):
        try:
            Web3(HTTPProvider(url, exception_retry_configuration=None)).eth.block_number  # noqa: B018
        except requests.exceptions.ConnectionError as err:
            logs.emit_repeated(log, "loop-error", logging.WARNING, ("outage-test",), cause=err)

    lines = [r.fields for r in node_log.records if r.getMessage() == "loop-error"]
    assert len(lines) == 1 and lines[0]["error"].startswith("ConnectionError")
    assert _value(installed, "jobmarket_node_errors_total", kind="rpc") == 5


def test_each_failure_is_told_apart_by_the_service_it_came_from() -> None:
    port = _closed_port()
    failures = {}
    try:
        docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41").ping()
    except Exception as err:
        failures["docker"] = err
    try:
        KuboStore(f"http://127.0.0.1:{port}", retries=0, timeout=2).version()
    except Exception as err:
        failures["ipfs"] = err
    try:
        Web3(HTTPProvider(f"http://127.0.0.1:{port}")).eth.block_number  # noqa: B018
    except Exception as err:
        failures["rpc"] = err
    wrapped = Unreachable("the Docker engine did not answer (ConnectionError)", "check dockerd")

    assert {kind: metrics.error_kind(err) for kind, err in failures.items()} == {
        "docker": "docker",
        "ipfs": "ipfs",
        "rpc": "rpc",
    }
    assert metrics.error_kind(wrapped) == "docker"
    assert metrics.error_kind(ValueError("a bug")) == "other"


def test_a_failing_hook_never_costs_the_step(journal: Journal) -> None:
    class Broken(metrics.NodeMetrics):
        def job_moved(self, *args: object) -> None:
            raise RuntimeError("metrics bug")

    broken = Broken()
    metrics.install(broken)
    try:
        journal.record_posted(posted(4))
        moved = advance(journal, 4, Step.DECLINED, reason="not for us")
    finally:
        metrics.uninstall(broken)
    job = journal.job(4)

    assert moved and job is not None and job.step == Step.DECLINED
