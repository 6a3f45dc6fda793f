"""Whatever a requester controls that would fail after a claim is declined before it: a real
`provider-node run` on real anvil and Docker declines each hostile job with a reason, sends no
claim (its nonce does not move), keeps its stake, and writes nothing of the inputs to disk.

Each case once cost the claimer 2 % of the collateral per post, as often as a requester liked.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from hostile_inputs import GiB, directory, file_bomb, folder_missing_a_leaf
from node_world import PROVIDER_ADDRESS, Market, shell_job
from support.node import ProviderNode

from jobmarket.chain.states import JobState
from jobmarket.content.dagpb import UnixFSType
from jobmarket.content.reader import decode
from jobmarket.docker_engine import DEFAULT_IMAGE

MiB = 1024 * 1024
# A margin that leaves this node at most ~60 GB of usable disk, whatever the machine: a job
# asking for 100 GiB cannot fit, an ordinary one (1 GiB) does.
_FREE_MB = shutil.disk_usage(tempfile.gettempdir()).free // MiB
REGISTER_ARGS = ["--max-disk-mb", "102400"]
NODE_ARGS = ["--delivery-margin", "10", "--disk-margin", str(max(0, _FREE_MB - 60_000))]
REVIEW_S = 3
SECRET = f"HOST-SECRET-{uuid.uuid4().hex}"


def _post_document(market: Market, document: object | bytes) -> int:
    """Post a spec block a requester wrote by hand (no client-side validation)."""
    block = document if isinstance(document, bytes) else json.dumps(document).encode()
    return market.post(digest=market.store.add_bytes(block, pin=True).digest)


def _job(**fields: object) -> dict:
    return {"image": DEFAULT_IMAGE, "command": ["true"], **fields}


def _mount(path: str, cid: object) -> dict:
    return {"cid": str(cid), "path": path}


@pytest.fixture(scope="module")
def hostile(market: Market, node: ProviderNode, tmp_path_factory) -> dict:
    """Every hostile job posted at once, with the provider's nonce, stake and free disk before."""
    work = tmp_path_factory.mktemp("hostile")
    store = market.store
    node_folder = market.home / "nodes"
    before = {
        "nonce": market.w3.eth.get_transaction_count(PROVIDER_ADDRESS),
        "stake": market.client.provider_info(PROVIDER_ADDRESS).stake,
        "free": shutil.disk_usage(node_folder).free,
    }
    small = store.add_bytes(b"small input", pin=True)
    long_inner = directory(store, {b"x" * 300: store.add_bytes(b"x"), b"ok": small})
    jobs = {
        "env name with a newline": _post_document(market, _job(env={"A\n": "x"})),
        "300-byte output name": _post_document(market, _job(outputs=["o" * 300])),
        "300-byte input name": _post_document(market, _job(inputs=[_mount("i" * 300, small)])),
        "300-byte name inside an input": market.post(
            shell_job("true", inputs=[{"cid": str(long_inner), "path": "d"}])
        ),
        "input missing a leaf": market.post(
            shell_job(
                "true", inputs=[{"cid": str(folder_missing_a_leaf(store, work)), "path": "d"}]
            )
        ),
        "64 GiB bomb": market.post(
            shell_job("true", inputs=[{"cid": str(file_bomb(store)), "path": "bomb"}])
        ),
        "inputs over disk_mb": market.post(
            shell_job(
                "true",
                inputs=[{"cid": str(store.add_bytes(b"\1" * (2 * MiB))), "path": "big"}],
                resources={"disk_mb": 1},
            )
        ),
        "deeply nested JSON": _post_document(market, b"[" * 100_000 + b"]" * 100_000),
        "more disk than the node has": market.post(
            shell_job("true", resources={"disk_mb": 102400})
        ),
    }
    reasons = {
        name: node.wait_for_step(job_id, "declined", timeout=60)["reason"]
        for name, job_id in jobs.items()
    }
    return {"jobs": jobs, "reasons": reasons, "before": before}


def test_each_hostile_job_is_declined_with_its_reason(hostile) -> None:
    reasons = hostile["reasons"]

    assert "env: 'A\\n' is not a valid variable name" in reasons["env name with a newline"]
    assert "outputs.0: component" in reasons["300-byte output name"]
    assert "is 300 bytes" in reasons["300-byte input name"]
    assert "input /in/d" in reasons["300-byte name inside an input"]
    assert "is 300 bytes" in reasons["300-byte name inside an input"]
    assert "not in the local store" in reasons["input missing a leaf"]
    assert "more than resources.disk_mb (1024 MiB)" in reasons["64 GiB bomb"]
    assert "more than resources.disk_mb (1 MiB)" in reasons["inputs over disk_mb"]
    assert "nests deeper than 64 levels" in reasons["deeply nested JSON"]
    assert reasons["more disk than the node has"].startswith("disk: the job may take")


def test_no_claim_was_sent_and_no_stake_was_lost(market: Market, hostile) -> None:
    before = hostile["before"]

    assert market.w3.eth.get_transaction_count(PROVIDER_ADDRESS) == before["nonce"]
    assert market.client.provider_info(PROVIDER_ADDRESS).stake == before["stake"]
    for name, job_id in hostile["jobs"].items():
        assert market.job(job_id).state == JobState.OPEN, name
        assert market.calls("claim", PROVIDER_ADDRESS, job_id) == [], name


def test_the_bomb_left_the_hosts_disk_as_it_was(market: Market, hostile) -> None:
    free_now = shutil.disk_usage(market.home / "nodes").free

    assert free_now > hostile["before"]["free"] - 1 * GiB  # 64 GiB were described, none written
    assert list((market.home / "nodes").rglob("inputs/*")) == []  # nothing was staged


def test_a_spec_that_cannot_be_parsed_is_declined_once_never_retried(node, hostile) -> None:
    job_id = hostile["jobs"]["deeply nested JSON"]

    assert node.steps_of(job_id) == ["seen", "declined"]
    assert node.events("step-error", job=job_id) == []
    assert node.events("deferred", job=job_id) == []


def test_an_input_with_symlinks_runs_with_the_links_inside_in(
    market: Market, node: ProviderNode, hostile, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "file.txt").write_text("hello")
    (folder / "sibling").symlink_to("file.txt")
    (folder / "to-host").symlink_to(secret)
    spec = shell_job(
        "readlink /in/data/to-host > /out/target; cat /in/data/sibling > /out/sibling; "
        "cat /in/data/to-host > /out/through 2>/dev/null; exit 0",
        inputs=[{"cid": str(market.store.add_path(folder, pin=True)), "path": "data"}],
    )
    job_id = market.post(spec, review_window=REVIEW_S)

    node.wait_for_step(job_id, "settled", timeout=90)
    manifest = market.fetch(job_id, tmp_path / "result")

    outputs = tmp_path / "result" / "outputs"
    assert manifest.status == "succeeded"
    assert (outputs / "target").read_text().strip() == str(secret)
    assert (outputs / "sibling").read_text() == "hello"
    assert SECRET not in (outputs / "through").read_text()  # the host's file is not in /in
    assert (secret.stat().st_mode & 0o777) == 0o600  # staging never chmod-ed through the link


def test_a_sharded_input_directory_is_staged_whole_and_the_job_delivered(
    market: Market, node: ProviderNode, hostile, tmp_path: Path
) -> None:
    # Seen: a HAMT-sharded input (what Kubo makes of a large folder) passed the pre-claim
    # check, then staging refused it after the claim (abandon, slash).
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(6_000):
        (folder / f"row-{index:05d}.csv").write_text(f"{index}\n")
    shard = market.store.add_dir(folder, pin=True)
    assert decode(shard, market.store.get_block(shard)).kind == UnixFSType.HAMT_SHARD
    spec = shell_job(
        "ls /in/rows | wc -l > /out/count && cat /in/rows/row-05999.csv > /out/last",
        inputs=[{"cid": str(shard), "path": "rows"}],
    )
    job_id = market.post(spec, review_window=REVIEW_S)

    node.wait_for_step(job_id, "settled", timeout=120)
    manifest = market.fetch(job_id, tmp_path / "result")

    assert manifest.status == "succeeded"
    assert (tmp_path / "result" / "outputs" / "count").read_text().strip() == "6000"
    assert (tmp_path / "result" / "outputs" / "last").read_text() == "5999\n"
    assert market.calls("abandon", PROVIDER_ADDRESS, job_id) == []


def test_outputs_with_255_byte_names_are_delivered(
    market: Market, node: ProviderNode, hostile, tmp_path: Path
) -> None:
    name = "é" * 127 + "x"  # 255 bytes
    spec = shell_job(
        f"mkdir -p /out/{name}/{name} && echo deep > /out/{name}/{name}/{name}",
        outputs=[name],
    )
    job_id = market.post(spec, review_window=REVIEW_S)

    node.wait_for_step(job_id, "settled", timeout=90)
    manifest = market.fetch(job_id, tmp_path / "result")

    assert manifest.status == "succeeded"
    assert [record.path for record in manifest.outputs] == [f"{name}/{name}/{name}"]
    assert (tmp_path / "result" / "outputs" / name / name / name).read_text() == "deep\n"
