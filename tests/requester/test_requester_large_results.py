"""Outputs are always deliverable: a result of 25,000 files (five times the ~5,000 a basic
UnixFS directory holds; sharded several levels deep) is laid out as the node lays it out,
published — its folders sharded into HAMT directories exactly as Kubo shards them — submitted
on chain, then downloaded by the requester on the real chain and store and every file verified
against the manifest. The node's limit of 100,000 is published and read back whole in
tests/content/test_content_hamt.py, and its manifest checked against what a requester accepts
in tests/executor/test_outputs_delivered.py."""

from __future__ import annotations

from pathlib import Path

from jobmarket.content.dagpb import UnixFSType
from jobmarket.content.reader import decode

FILES = 25_000


def test_twenty_five_thousand_outputs_are_delivered_and_downloaded_intact(
    requester, post, provider, store, tmp_path: Path
) -> None:
    job_id = post()
    files = {f"part-{index:06d}.txt": str(index).encode() for index in range(FILES)}
    root = provider.deliver(job_id, tmp_path / "work", files)

    outputs = next(entry for entry in store.ls(root) if entry.name == "outputs")
    assert decode(outputs.cid, store.get_block(outputs.cid)).kind == UnixFSType.HAMT_SHARD

    manifest = requester.job(job_id).results(tmp_path / "downloaded")

    assert len(manifest.outputs) == FILES and manifest.status == "succeeded"
    downloaded = tmp_path / "downloaded" / "outputs"
    names = sorted(path.name for path in downloaded.iterdir())
    assert names == sorted(files)
    for name in ("part-000000.txt", "part-012345.txt", "part-024999.txt"):
        assert (downloaded / name).read_bytes() == files[name]
