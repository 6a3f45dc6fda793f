"""Two parties who share nothing but the chain: requester on host A, provider on host B.

Each host is a network namespace with its own Kubo daemon and its own ``JOBMARKET_HOME``
(``tests/support/two_hosts.py``); anvil runs on the chain host. Real anvil, real Docker (the
provider's executor, network none), real Kubo v0.43.1: a job's inputs go from A's Kubo to B's
over IPFS, its result back from B's to A's, and nothing else is shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*

from support.two_hosts import TwoHosts, two_hosts
from web3 import Web3

from jobmarket.chain import accounts
from jobmarket.chain.client import ZERO_ADDRESS
from jobmarket.chain.states import JobState
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.kubo import KuboStore
from jobmarket.docker_engine import DEFAULT_IMAGE
from jobmarket.spec.job import JobSpec

CLAIM = Web3.keccak(text="claim(uint256)")[:4]
# 512 KiB without repeats: two distinct 256 KiB leaves and a root, so every byte crosses.
INPUT = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(16384))
SUM_JOB = "sha256sum /in/data.bin | cut -d' ' -f1 > /out/sum; wc -c < /in/data.bin > /out/size"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    with two_hosts(tmp_path_factory.mktemp("hosts")) as hosts:
        yield hosts


def _post(world: TwoHosts, *args: str) -> dict:
    return world.requester_json(
        "post", "--image", DEFAULT_IMAGE, "--cmd", f"sh -c {json.dumps(SUM_JOB)}",
        "--price", "0.01", *args,
    )  # fmt: skip


def _claims(world: TwoHosts, job_id: int) -> list[dict]:
    """Every claim transaction for ``job_id`` in the chain's blocks (mined or reverted)."""
    found = []
    for number in range(world.first_block, world.w3.eth.block_number + 1):
        for tx in world.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            data = bytes(tx["input"])
            ours = tx["to"] == world.client.address and data[:4] == CLAIM
            if ours and int.from_bytes(data[4:36], "big") == job_id:
                found.append(dict(tx))
    return found


def test_a_job_crosses_two_hosts_over_ipfs_and_its_result_verifies_on_the_requester(world):
    data = world.requester_host.folder / "data.bin"
    data.write_bytes(INPUT)
    result = world.requester_host.folder / "result"
    before_a, before_b = world.bitswap(world.kubo_a), world.bitswap(world.kubo_b)

    report = _post(world, "--input", f"data.bin={data}", "--fetch", str(result), "--accept")

    assert report["status"]["state"] == "ACCEPTED"
    assert (result / "outputs" / "sum").read_text().strip() == hashlib.sha256(INPUT).hexdigest()
    assert (result / "outputs" / "size").read_text().strip() == str(len(INPUT))
    after_a, after_b = world.bitswap(world.kubo_a), world.bitswap(world.kubo_b)
    # The input went A -> B over bitswap, the result (and the spec) B <- A and A <- B.
    assert after_b["DataReceived"] - before_b["DataReceived"] >= len(INPUT)
    assert after_a["DataSent"] - before_a["DataSent"] >= len(INPUT)
    assert after_a["DataReceived"] - before_a["DataReceived"] > 0
    # The node connected to the peers the spec hinted at before fetching.
    [connected] = world.node.events("peers_connected", job=str(report["job_id"]))[:1]
    assert int(connected["peers"]) >= 1
    # Nothing shared: no embedded store on either host, and the two folders are disjoint.
    a, b = world.requester_host.folder, world.provider_host.folder
    assert not (world.requester_host.home / "ipfs").exists()
    assert not (world.provider_host.home / "ipfs").exists()
    assert a not in b.parents and b not in a.parents and a != b
    staged_copies = [p for p in b.rglob("*") if p.is_file() and p.read_bytes() == INPUT]
    assert not any(a in p.parents for p in staged_copies)


def test_the_capability_document_publishes_the_providers_peer_addresses(world):
    [listing] = world.requester_json("providers")
    assert listing["capabilities"]["ipfs_peers"] == world.kubo_b.swarm_addresses()


def test_a_result_reads_through_kubos_trustless_gateway_every_block_checked(world):
    data = world.requester_host.folder / "data-2.bin"
    data.write_bytes(INPUT[::-1])
    report = _post(world, "--input", f"data.bin={data}", "--wait")
    target = world.requester_host.folder / "via-gateway"

    done = world.requester(
        "results", str(report["job_id"]), str(target), "--gateway", world.kubo_b.gateway_url
    )

    assert done.returncode == 0, done.stderr
    expected = hashlib.sha256(INPUT[::-1]).hexdigest()
    assert (target / "outputs" / "sum").read_text().strip() == expected


@contextlib.contextmanager
def _http_server(world: TwoHosts, folder: Path) -> Iterator[str]:
    """A plain HTTP server on host A (its own address only) serving ``folder``."""
    host = world.requester_host
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "http.server", "--bind", host.address, str(port),
               "--directory", str(folder)]  # fmt: skip
    server = subprocess.Popen(
        host.command(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://{host.address}:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection((host.address, port), 1):
                break
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_a_url_input_pinned_by_sha256_is_downloaded_verified_and_staged(world):
    served = world.requester_host.folder / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(INPUT[:100_000])
    digest = hashlib.sha256(INPUT[:100_000]).hexdigest()
    result = world.requester_host.folder / "url-result"
    with _http_server(world, served) as url:
        report = _post(world, "--input-url", f"data.bin={url}/data.bin#sha256={digest}",
                       "--fetch", str(result))  # fmt: skip
    assert (result / "outputs" / "sum").read_text().strip() == digest
    # Verified before the decision and again before staging (after the claim).
    verified = world.node.events("url_input_verified", job=str(report["job_id"]))
    assert [event["sha256"] for event in verified] == [digest, digest]


def test_a_url_input_whose_digest_differs_is_declined_before_claiming(world):
    served = world.requester_host.folder / "served-wrong"
    served.mkdir()
    (served / "data.bin").write_bytes(b"not what the requester pinned\n")
    pinned = hashlib.sha256(b"what the requester pinned\n").hexdigest()
    with _http_server(world, served) as url:
        report = _post(world, "--input-url", f"data.bin={url}/data.bin#sha256={pinned}")
        job_id = report["job_id"]
        declined = world.node.wait_for_step(job_id, "declined", timeout=60)
    assert f"not the {pinned} the job pinned" in declined["reason"]
    assert _claims(world, job_id) == []
    assert world.client.job(job_id).state == JobState.OPEN


def test_an_input_nobody_serves_is_declined_before_claiming_and_the_log_says_why(world, tmp_path):
    # The input's CID names bytes that exist only in a throwaway store on no host at all.
    orphan = EmbeddedStore(tmp_path / "nowhere").add_bytes(b"bytes no IPFS node has\n" * 100)
    spec = JobSpec(image=DEFAULT_IMAGE, command=["cat", "/in/x"],
                   inputs=[{"cid": str(orphan), "path": "x"}])  # fmt: skip
    with KuboStore(world.kubo_a.api_url) as store_a:  # the requester publishes the spec on A
        digest = spec.publish(store_a).digest
        store_a.swarm_connect(world.kubo_b.swarm_addresses())  # as `requester post` does
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    requester = accounts.test_account(0)
    receipt = world.client.transact(
        requester, "post_job", digest, ZERO_ADDRESS, now + 600, 1200, 3600, value=10**16
    )
    [posted] = [e for e in map(world.client.decode, receipt["logs"]) if e and e.job_id is not None]
    job_id = int(posted.job_id)

    declined = world.node.wait_for_step(job_id, "declined", timeout=120)

    assert f"input /in/x ({orphan})" in declined["reason"]
    assert "not available" in declined["reason"]
    assert _claims(world, job_id) == []
    assert world.client.job(job_id).state == JobState.OPEN


def test_an_input_named_with_a_gateway_is_fetched_as_a_verified_car(world):
    payload = INPUT[:200_000]
    with KuboStore(world.kubo_a.api_url) as store_a:
        cid = store_a.add_bytes(payload, pin=True)
        spec = JobSpec.parse({
            "image": DEFAULT_IMAGE, "command": ["sh", "-c", SUM_JOB],
            "inputs": [{"cid": str(cid), "path": "data.bin"}],
            "retrieval": {"gateways": [world.kubo_a.gateway_url]},
        })  # fmt: skip
        digest = spec.publish(store_a).digest
        store_a.swarm_connect(world.kubo_b.swarm_addresses())  # for the spec itself
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    receipt = world.client.transact(accounts.test_account(0), "post_job", digest, ZERO_ADDRESS,
                                    now + 600, 1200, 3600, value=10**16)  # fmt: skip
    [posted] = [e for e in map(world.client.decode, receipt["logs"]) if e and e.job_id is not None]
    job_id = int(posted.job_id)

    world.node.wait_for_step(job_id, "submitted", timeout=120)

    # B held none of it, so the whole DAG came from A's gateway as one CAR before deciding.
    [fetched] = world.node.events("gateway_fetched", job=str(job_id))
    assert fetched["cid"] == str(cid)
    target = world.requester_host.folder / "gateway-input-result"
    done = world.requester("results", str(job_id), str(target))
    assert done.returncode == 0, done.stderr
    assert (target / "outputs" / "sum").read_text().strip() == hashlib.sha256(payload).hexdigest()


def test_inputs_checked_before_the_claim_survive_the_providers_gc_once_nobody_else_has_them(
    world,
):
    """From the check before its claim to the staging after it, the node holds a job's spec
    and inputs in its own Kubo (an MFS entry: Kubo's GC keeps what MFS reaches). Here it is
    killed right after claiming, its Kubo's GC runs, and the requester's node forgets them:
    restarted, the node still stages and runs the job from its own blocks."""
    payload = hashlib.sha512(b"held").digest() * 8192  # 512 KiB of its own
    data = world.requester_host.folder / "held.bin"
    data.write_bytes(payload)
    world.node.stop()
    world.node.start(crash_at="claimed")
    job_id = _post(world, "--input", f"data.bin={data}")["job_id"]
    world.node.wait_exit(timeout=120)  # SIGKILLed by the hook once the claim was journaled
    assert world.client.job(job_id).state == JobState.CLAIMED

    # Nobody but B has the spec and the input now: A unpins and collects everything.
    for pinned in world.kubo_a.ipfs("pin", "ls", "--type=recursive", "-q").split():
        world.kubo_a.ipfs("pin", "rm", pinned)
    world.kubo_a.ipfs("repo", "gc")
    world.kubo_b.ipfs("repo", "gc")
    with KuboStore(world.kubo_b.api_url) as store_b:
        [hold] = store_b.held("inputs-")
        assert hold.endswith(f"-{job_id}")

        world.node.start()
        world.node.wait_for_step(job_id, "submitted", timeout=120)

        assert store_b.held("inputs-") == []  # dropped once staged
    target = world.requester_host.folder / "held-result"
    done = world.requester("results", str(job_id), str(target))
    assert done.returncode == 0, done.stderr
    assert (target / "outputs" / "sum").read_text().strip() == hashlib.sha256(payload).hexdigest()
    assert world.node.events("step", job=str(job_id), step="abandoned") == []
