"""A hostile result cannot hurt the requester: nothing is written before the manifest verified
against the chain, nothing past the sizes it declares, the download limit or the free space of
the target, and a refusal leaves the target folder as it was — on a real 512 MiB filesystem.
Nothing a provider wrote (names, refused paths, log tails) reaches the terminal raw."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from requester_support import CAPABILITIES, ScriptedProvider, file_bomb

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.content.cid import Cid
from jobmarket.content.importer import ImportedNode
from jobmarket.errors import IntegrityError
from jobmarket.spec.result import RefusedFile
from jobmarket.spec.result_dir import ResultTooLarge
from jobmarket.terminal import printable

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\r\x9b31m\x7f"  # clear screen, retitle, CR, C1 CSI, DEL


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 512 MiB filesystem (tmpfs) to download into, unmounted after the test."""
    mount = tmp_path / "small-fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def one_error_line(result, exit_code: int) -> str:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def control_characters(data: bytes) -> list[str]:
    """Every C0 (but newline), DEL and C1 character in ``data`` decoded as UTF-8."""
    return [
        repr(ch)
        for ch in data.decode("utf-8", errors="replace")
        if (ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F
    ]


def test_a_64_gib_result_is_refused_before_a_byte_is_written(cli, post, provider, small_fs):
    job_id = post()
    provider.claim(job_id)
    bomb = file_bomb(provider.store)  # three blocks that describe a 64 GiB file
    provider.submit_forged(job_id, small_fs.parent / "work", {b"huge.bin": (bomb, 64 * GIB)})
    free_before = free_bytes(small_fs)

    by_limit = one_error_line(
        cli("results", str(job_id), str(small_fs / "result"), "--max-size", "100MiB"), 1
    )
    by_space = one_error_line(cli("results", str(job_id), str(small_fs / "result")), 1)

    assert "needs 64 GiB" in by_limit and "the download limit of 100 MiB" in by_limit
    assert "--max-size" in by_limit and "nothing was written" in by_limit
    assert "needs 64 GiB" in by_space and f"free in {small_fs}" in by_space
    assert "another filesystem" in by_space
    assert free_bytes(small_fs) == free_before
    assert list(small_fs.iterdir()) == []  # no target, no temporary leftovers


def test_bytes_beyond_a_declared_size_are_never_written(requester, post, provider, small_fs):
    job_id = post()
    provider.claim(job_id)
    bomb = file_bomb(provider.store)
    # The manifest says 1,000 bytes; the DAG (a valid file) holds 64 GiB.
    provider.submit_forged(job_id, small_fs.parent / "work", {b"small.txt": (bomb, 1000)})
    free_before = free_bytes(small_fs)

    # A write past the cap would have hit ENOSPC on this 512 MiB filesystem instead.
    with pytest.raises(IntegrityError, match=r"outputs/small\.txt holds more than the 1000 bytes"):
        requester.job(job_id).results(small_fs / "result", max_size=100 * GIB)

    assert free_bytes(small_fs) == free_before
    assert list(small_fs.iterdir()) == []


def test_an_honest_result_fits_the_small_filesystem(requester, post, provider, small_fs):
    job_id = post()
    provider.deliver(job_id, small_fs.parent / "work", {"data.bin": b"\x01" * (50 << 20)})

    manifest = requester.job(job_id).results(small_fs / "result")

    assert (small_fs / "result/outputs/data.bin").stat().st_size == 50 << 20
    assert [record.size for record in manifest.outputs] == [50 << 20]
    assert sorted(p.name for p in small_fs.iterdir()) == ["result"]


def test_a_refused_download_leaves_an_existing_folder_unchanged(cli, post, provider, tmp_path):
    job_id = post()
    provider.deliver(job_id, tmp_path / "work", {"answer.txt": b"42\n"})
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")

    line = one_error_line(cli("results", str(job_id), str(target)), 2)

    assert f"{target} already exists" in line
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"


def test_the_api_limit_is_a_typed_refusal(requester, post, provider, tmp_path):
    job_id = post()
    provider.deliver(job_id, tmp_path / "work", {"a.bin": b"\0" * 200_000})

    with pytest.raises(ResultTooLarge, match=r"more than the download limit of 97\.7 KiB"):
        requester.job(job_id).results(tmp_path / "result", max_size="100000")
    assert not (tmp_path / "result").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["work"]


def test_the_ape_script_refuses_past_max_size(chain, post, provider, tmp_path):
    job_id = post()
    provider.deliver(job_id, tmp_path / "work", {"a.bin": b"\0" * 200_000})
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.url, "JOBMARKET_HOME": str(chain.home)}
    ape = str(Path(sys.executable).with_name("ape"))

    completed = subprocess.run(
        [ape, "run", "results", str(job_id), str(tmp_path / "result"), "--max-size", "100kB",
         "--network", "ethereum:local:foundry"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip

    assert completed.returncode == 1, (completed.stdout, completed.stderr)
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "more than the download limit of 97.7 KiB" in errors[0]
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "result").exists()


# -- terminal injection ----------------------------------------------------------------------


def test_no_control_character_from_a_result_reaches_the_terminal(cli, post, provider, workdir):
    job_id = post()
    provider.claim(job_id)
    spec = provider.client.spec_digest(job_id)
    result = provider.result_dir(
        job_id,
        workdir / "work",
        {"ok.txt": b"fine\n"},
        spec_cid=Cid.from_digest(spec),
        stderr=f"warning {HOSTILE} here\nlast line {HOSTILE}\n".encode(),
        refused=[RefusedFile(path=f"evil{HOSTILE}name", reason=f"symbolic link {HOSTILE}")],
    )
    provider.submit(job_id, result)

    shown = cli("results", str(job_id), "text-result")
    as_json = cli("results", str(job_id), "json-result", "--json")
    status = cli("status", str(job_id))

    assert shown.exit_code == 0, shown.stderr
    assert "not collected: evil\\e[2J" in shown.stdout  # visible, escaped
    assert "stderr (last lines): warning \\e[2J" in shown.stdout
    assert as_json.exit_code == 0 and status.exit_code == 0
    manifest = json.loads(as_json.stdout)["manifest"]
    # The node's manifest holds refused paths already escaped (bounded by construction).
    assert manifest["refused"][0]["path"] == printable(f"evil{HOSTILE}name")
    for run in (shown, as_json, status):
        assert control_characters(run.stdout_bytes) == []
        assert control_characters(run.stderr_bytes) == []


def test_a_hostile_output_name_is_refused_in_one_escaped_line(cli, post, provider, workdir):
    job_id = post()
    provider.claim(job_id)
    payload = provider.store.add_bytes(b"x")
    node = ImportedNode(payload, 1, 1)
    provider.submit_forged(job_id, workdir / "work", {f"a{HOSTILE}b".encode(): (node, 1)})

    refused = cli("results", str(job_id), "result")

    line = one_error_line(refused, 4)
    assert "must not contain control characters" in line and "dispute" in line
    assert control_characters(refused.stdout_bytes + refused.stderr_bytes) == []
    assert not (workdir / "result").exists()


def test_a_hostile_capability_document_is_printed_escaped(cli, chain, store, provider):
    stranger = ScriptedProvider(chain.client, dev_account(5), store)
    stranger.register(CAPABILITIES.model_copy(update={"accepted_images": [f"x{HOSTILE}"]}))

    listed = cli("providers")
    as_json = cli("providers", "--json")

    assert listed.exit_code == 0 and "images x\\e[2J" in listed.stdout
    assert f"x{HOSTILE}" in [i for p in json.loads(as_json.stdout) for i in
                             (p.get("capabilities") or {}).get("accepted_images", [])]  # fmt: skip
    for run in (listed, as_json):
        assert control_characters(run.stdout_bytes + run.stderr_bytes) == []
