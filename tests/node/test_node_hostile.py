"""Hostile jobs against a real node: each ends settled — delivered with an error status, or
abandoned — and the node goes on serving the next job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from node_world import PROVIDER_ADDRESS, Market, shell_job
from support.bridge import BridgeListener
from support.node import ProviderNode

from jobmarket.chain.states import JobState

# --allow-pull: a job naming an image that is nowhere to be pulled is claimed, then abandoned.
NODE_ARGS = ["--max-jobs", "4", "--allow-pull", "--delivery-margin", "10"]
# Bridge jobs are offered too: the control probe must reach the listener from one.
REGISTER_ARGS = ["--network", "none", "--network", "bridge"]
REVIEW_S = 3  # the node finalizes its delivered jobs itself once this has passed
SECRET = f"HOST-SECRET-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def host_secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("host") / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture(scope="module")
def listener(docker_api: docker.DockerClient) -> Iterator[BridgeListener]:
    server = BridgeListener(docker_api)
    yield server
    server.stop()


def _probe(url: str) -> str:
    # (no wget -T: Debian's static busybox 1.35 wget crashes with it)
    return f"wget -q -O /out/page {url} 2>/out/wget-error; echo exit=$? > /out/net"


@pytest.fixture(scope="module")
def hostile_jobs(
    market: Market, node: ProviderNode, host_secret: Path, listener: BridgeListener
) -> dict[str, int]:
    """All hostile jobs, posted at once; the node runs up to four at a time."""
    jobs = {
        "fork bomb": shell_job("bomb() { bomb | bomb & }; bomb & while :; do :; done", timeout_s=4),
        "memory bomb": shell_job(
            "dd if=/dev/zero of=/dev/null bs=256M count=1", resources={"memory_mb": 32}
        ),
        "endless loop": shell_job("while :; do :; done", timeout_s=2),
        "1 GB of output": shell_job(
            "echo kept > /out/a-first; dd if=/dev/zero of=/out/big bs=1M count=1024; exit 0",
            resources={"disk_mb": 8},
        ),
        "symlink to a host file": shell_job(
            f"ln -s {host_secret} /out/leak; ln -s /etc/shadow /out/shadow; echo ok > /out/fine"
        ),
        "network request": shell_job(_probe(listener.url)),
        "network request over the bridge": shell_job(_probe(listener.url), network="bridge"),
        "missing image": shell_job("true").model_copy(
            update={"image": "127.0.0.1:9/nowhere/missing:1"}
        ),
    }
    return {name: market.post(spec, review_window=REVIEW_S) for name, spec in jobs.items()}


def _delivered(market: Market, node: ProviderNode, job_id: int, tmp_path: Path):
    node.wait_for_step(job_id, "settled", timeout=90)
    assert market.job(job_id).state == JobState.ACCEPTED  # paid: an error status is a result
    return market.fetch(job_id, tmp_path / "result")


def test_a_fork_bomb_stops_at_the_pids_limit(market, node, hostile_jobs, tmp_path) -> None:
    manifest = _delivered(market, node, hostile_jobs["fork bomb"], tmp_path)

    assert manifest.status == "timeout"
    assert "can't fork" in manifest.logs.stderr_tail
    assert manifest.limits.pids == 256


def test_a_memory_bomb_is_reported_as_oom(market, node, hostile_jobs, tmp_path) -> None:
    manifest = _delivered(market, node, hostile_jobs["memory bomb"], tmp_path)

    assert manifest.status == "oom" and manifest.exit_code == 137
    assert manifest.limits.memory_mb == 32


def test_an_endless_loop_is_killed_at_its_timeout(market, node, hostile_jobs, tmp_path) -> None:
    manifest = _delivered(market, node, hostile_jobs["endless loop"], tmp_path)

    assert manifest.status == "timeout"
    assert 2.0 <= manifest.runtime_s < 4.0


def test_a_gigabyte_of_output_is_capped(market, node, hostile_jobs, tmp_path) -> None:
    manifest = _delivered(market, node, hostile_jobs["1 GB of output"], tmp_path)

    assert manifest.status == "output_limit"
    assert manifest.limits.max_output_bytes == 8 * 1024 * 1024
    assert {record.path for record in manifest.outputs} == {"a-first"}
    assert sum(record.size for record in manifest.outputs) <= 8 * 1024 * 1024


def test_a_symlink_to_a_host_file_is_refused_unread(market, node, hostile_jobs, tmp_path) -> None:
    manifest = _delivered(market, node, hostile_jobs["symlink to a host file"], tmp_path)

    assert manifest.status == "succeeded"
    assert {entry.path for entry in manifest.refused} == {"leak", "shadow"}
    assert [record.path for record in manifest.outputs] == ["fine"]
    published = b"".join(p.read_bytes() for p in (tmp_path / "result").rglob("*") if p.is_file())
    assert SECRET.encode() not in published and b"root:" not in published
    for folder in ("nodes", "ipfs"):  # the node's state and every block it ever stored
        files = (market.home / folder).rglob("*")
        assert not any(SECRET.encode() in p.read_bytes() for p in files if p.is_file())


def test_a_network_request_fails_inside_the_container(market, node, hostile_jobs, tmp_path) -> None:
    manifest = _delivered(market, node, hostile_jobs["network request"], tmp_path)

    outputs = tmp_path / "result" / "outputs"
    assert manifest.limits.network == "none"
    assert (outputs / "net").read_text().strip() == "exit=1"
    assert "Network is unreachable" in (outputs / "wget-error").read_text()
    assert not (outputs / "page").exists() or (outputs / "page").stat().st_size == 0


def test_the_same_probe_from_a_bridge_job_reaches_the_listener(
    market, node, hostile_jobs, tmp_path
) -> None:
    """The control: the probe above fails for want of a network, not for want of a target."""
    manifest = _delivered(market, node, hostile_jobs["network request over the bridge"], tmp_path)

    outputs = tmp_path / "result" / "outputs"
    assert manifest.limits.network == "bridge"
    assert (outputs / "net").read_text().strip() == "exit=0"
    assert (outputs / "page").read_text() == "pong\n"


def test_a_job_whose_image_cannot_be_had_is_abandoned(market, node, hostile_jobs) -> None:
    job_id = hostile_jobs["missing image"]

    abandoned = node.wait_for_step(job_id, "abandoned", timeout=60)

    assert "could not be pulled" in abandoned["reason"]
    job = market.job(job_id)
    assert job.state == JobState.OPEN  # given back before its claim deadline: reopened
    assert len(market.calls("claim", PROVIDER_ADDRESS, job_id)) == 1  # and never taken again
    assert len(market.calls("abandon", PROVIDER_ADDRESS, job_id)) == 1


def test_the_node_still_serves_the_next_job(market, node, hostile_jobs, tmp_path) -> None:
    for job_id in hostile_jobs.values():  # every hostile job has left the node
        assert node.events("step", job=job_id)[-1]["step"] in ("settled", "abandoned", "submitted")
    job_id = market.post(shell_job("echo still-alive > /out/ok"), review_window=REVIEW_S)

    manifest = _delivered(market, node, job_id, tmp_path)

    assert manifest.status == "succeeded"
    assert (tmp_path / "result" / "outputs" / "ok").read_text() == "still-alive\n"
    status = node.status()
    assert status["in_flight"] == [] or all(j["step"] == "submitted" for j in status["in_flight"])
    assert status["jobs"]["failed"] == 0 and status["slashed"] == 0
