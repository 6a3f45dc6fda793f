"""Outputs are always deliverable: a result of 100,000 files (far past the ~5,000 a basic
UnixFS directory holds) is laid out as the node lays it out, published — its folders sharded
into HAMT directories exactly as Kubo shards them — submitted on chain, then downloaded by the
requester on the real chain and store and every file verified against the manifest."""

from __future__ import annotations

from pathlib import Path

from jobmarket.content.dagpb import UnixFSType
from jobmarket.content.reader import decode

FILES = 100_000


def test_a_hundred_thousand_outputs_are_delivered_and_downloaded_intact(
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
    for name in ("part-000000.txt", "part-054321.txt", "part-099999.txt"):
        assert (downloaded / name).read_bytes() == files[name]
