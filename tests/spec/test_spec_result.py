"""Result folders: the provider builds and publishes one, the requester proves it is intact."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.errors import IntegrityError
from jobmarket.spec import AppliedLimits, RefusedFile, ResultManifest
from jobmarket.spec.result_dir import (
    RESULT_PARAMS,
    build_result_dir,
    check_result_tree,
    fetch_result,
    publish_result,
)

LIMITS = AppliedLimits(
    cpu=1.0,
    memory_mb=512,
    pids=128,
    timeout_s=600,
    network="none",
    read_only_root=True,
    user="65534:65534",
    tmpfs_mb=64,
    max_output_bytes=1 << 30,
    max_output_files=1000,
)
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _collected_outputs(root: Path) -> Path:
    """What an executor might leave after collecting /out, including things to refuse."""
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "result.csv").write_text("a,b\n1,2\n")
    (root / "nested" / "deeper" / "model.bin").write_bytes(os.urandom(300_000))
    (root / ".hidden-but-collected").write_text("x")
    (root / "escape").symlink_to("/etc/passwd")
    os.mkfifo(root / "pipe")
    return root


def _build(tmp_path: Path, outputs: Path, **overrides: Any) -> ResultManifest:
    """The result folder of a succeeded run whose logs are ``tmp_path/stdout``."""
    arguments: dict[str, Any] = {
        "job_id": 1,
        "outputs_dir": outputs,
        "stdout_log": tmp_path / "stdout",
        "stderr_log": tmp_path / "stdout",
        "status": "succeeded",
        "exit_code": 0,
        "started_at": STARTED,
        "finished_at": STARTED,
        "image_id": "sha256:" + "c" * 64,
        "limits": LIMITS,
    }
    return build_result_dir(tmp_path / "result", **(arguments | overrides))


@pytest.fixture
def built(tmp_path):
    outputs = _collected_outputs(tmp_path / "collected")
    (tmp_path / "stdout").write_bytes(b"line\n" * 5000)
    (tmp_path / "stderr").write_bytes("warnung: ünïcode\n".encode())
    manifest = _build(
        tmp_path,
        outputs,
        job_id=7,
        stderr_log=tmp_path / "stderr",
        finished_at=STARTED + timedelta(seconds=12.5),
        refused=[RefusedFile(path="huge.bin", reason="output cap of 1 GiB reached")],
        spec_cid="bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
    )
    return tmp_path / "result", manifest


def test_manifest_describes_every_collected_file_and_every_refusal(built):
    root, manifest = built
    assert sorted(p.name for p in root.iterdir()) == ["logs", "manifest.json", "outputs"]
    assert [record.path for record in manifest.outputs] == [
        ".hidden-but-collected",
        "nested/deeper/model.bin",
        "result.csv",
    ]
    assert {(r.path, r.reason) for r in manifest.refused} == {
        ("huge.bin", "output cap of 1 GiB reached"),
        ("escape", "symbolic link"),
        ("pipe", "not a regular file"),
    }
    assert manifest.runtime_s == 12.5
    assert manifest.logs.stdout.size == 25000
    assert len(manifest.logs.stdout_tail) == 4096
    assert manifest.logs.stderr_tail == "warnung: ünïcode\n"
    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk["job_id"] == 7 and on_disk["limits"]["user"] == "65534:65534"
    assert check_result_tree(root, job_id=7) == manifest


def test_refusals_are_listed_in_the_same_order_on_every_filesystem(tmp_path):
    collected = tmp_path / "collected"
    for folder in ("b", "c", "a"):  # ext4 walks these in hash order, tmpfs in creation order
        (collected / folder).mkdir(parents=True)
        (collected / folder / "link").symlink_to("/etc/passwd")
    (tmp_path / "stdout").write_bytes(b"")
    manifest = _build(tmp_path, collected)
    assert [refusal.path for refusal in manifest.refused] == ["a/link", "b/link", "c/link"]


def test_published_result_is_fetched_and_verified_against_the_chain_digest(built, tmp_path):
    root, manifest = built
    provider = EmbeddedStore(tmp_path / "provider-ipfs", fsync=False)
    cid = publish_result(provider, root)
    assert str(cid).startswith("bafybei") and cid in provider.pins()
    on_chain = cid.digest  # submit_result stores these 32 bytes

    # the requester receives the bytes as a CAR (or from the same store) and checks them
    car = tmp_path / "result.car"
    provider.export_car(cid, car)
    requester = EmbeddedStore(tmp_path / "requester-ipfs", fsync=False)
    requester.import_car(car)
    fetched = fetch_result(
        requester, Cid.from_digest(on_chain, DAG_PB), on_chain, tmp_path / "fetched", job_id=7
    )
    assert fetched == manifest
    for record in manifest.outputs:
        assert (tmp_path / "fetched" / "outputs" / record.path).read_bytes() == (
            root / "outputs" / record.path
        ).read_bytes()
    # the per-file CIDs in the manifest are the CIDs inside the result DAG
    entries = {entry.name: str(entry.cid) for entry in requester.ls(cid)}
    assert set(entries) == {"logs", "manifest.json", "outputs"}
    assert entries["logs"] == manifest.logs.cid


def test_a_result_whose_digest_is_not_on_chain_is_refused(built, tmp_path):
    root, _ = built
    store = EmbeddedStore(tmp_path / "ipfs", fsync=False)
    cid = publish_result(store, root)
    with pytest.raises(IntegrityError, match="does not match the digest on chain"):
        fetch_result(store, cid, bytes(32), tmp_path / "fetched")
    assert not (tmp_path / "fetched").exists()


@pytest.mark.parametrize("tamper", ["modify", "add", "remove"])
def test_outputs_that_differ_from_the_manifest_are_refused_and_removed(built, tmp_path, tamper):
    root, _ = built
    forged = tmp_path / "forged"
    shutil.copytree(root, forged)
    if tamper == "modify":
        (forged / "outputs" / "result.csv").write_text("a,b\n1,3\n")
    elif tamper == "add":
        (forged / "outputs" / "extra.txt").write_text("unlisted")
    else:
        (forged / "outputs" / "result.csv").unlink()
    store = EmbeddedStore(tmp_path / "ipfs", fsync=False)
    cid = store.add_dir(forged, params=RESULT_PARAMS)  # a provider submitting this digest
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        fetch_result(store, cid, cid.digest, tmp_path / "fetched")
    assert not (tmp_path / "fetched").exists()


def test_manifest_for_another_job_is_refused(built):
    root, _ = built
    with pytest.raises(IntegrityError, match="manifest is for job 7, not job 8"):
        check_result_tree(root, job_id=8)
