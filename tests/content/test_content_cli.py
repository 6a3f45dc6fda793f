"""`requester cid` and `requester store …` as a person uses them."""

from __future__ import annotations

import os
import subprocess
import sys

CHUNK = 262144


def test_cid_of_a_file_defaults_to_cidv1_and_stores_nothing(cli, tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    result = cli("cid", str(path))
    assert result.exit_code == 0
    assert result.stdout == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e\n"
    assert not (tmp_path / "home" / "ipfs").exists()


def test_cid_reads_standard_input(cli):
    result = cli("cid", "-", "--cid-version", "0", input=b"hello world")
    assert result.stdout == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD\n"


def test_bad_inputs_are_one_error_line_and_a_nonzero_exit(cli, tmp_path):
    cases = [
        (["cid", str(tmp_path / "missing")], "does not exist"),
        (["cid", str(tmp_path), "--cid-version", "2"], "--cid-version"),
        (["cid", str(tmp_path), "--chunk-size", "2000000"], "chunk size must be between"),
        (["store", "cat", "not-a-cid"], "is not a CID"),
        (["store", "get", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"], "DEST"),
        (["store", "import", str(tmp_path / "missing.car")], "does not exist"),
    ]
    for args, fragment in cases:
        result = cli(*args)
        assert result.exit_code != 0, args
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("error: ") and fragment in lines[0], (args, lines)


def test_store_add_get_cat_pin_ls_export_import(cli, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    data = os.urandom(2 * CHUNK + 3)
    (tree / "sub" / "data.bin").write_bytes(data)
    (tree / "note.txt").write_text("note\n")

    added = cli("store", "add", str(tree), "--pin")
    assert added.exit_code == 0, added.stderr
    root = added.stdout.strip()
    assert root == cli("cid", str(tree)).stdout.strip()
    assert cli("store", "ls").stdout.splitlines() == [root]

    listing = cli("store", "ls", root).stdout.splitlines()
    assert [line.split()[-1] for line in listing] == ["note.txt", "sub"]

    sub = next(line.split()[0] for line in listing if line.endswith(" sub"))
    file_cid = cli("store", "ls", sub).stdout.split()[0]
    assert cli("store", "cat", file_cid).stdout_bytes == data

    assert cli("store", "get", root, str(tmp_path / "copy")).exit_code == 0
    assert (tmp_path / "copy" / "sub" / "data.bin").read_bytes() == data

    car = tmp_path / "tree.car"
    assert cli("store", "export", root, str(car)).exit_code == 0
    assert cli("store", "unpin", root).stdout == f"unpinned {root}\n"
    assert cli("store", "gc").stdout == "removed 7 blocks\n"
    assert cli("store", "cat", file_cid).exit_code != 0
    assert cli("store", "import", str(car)).stdout == f"{root}\n"
    assert cli("store", "cat", file_cid).stdout_bytes == data


def test_corrupted_store_is_reported_with_exit_code_4(cli, tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"precious")
    cid = cli("store", "add", str(path)).stdout.strip()
    [block] = (tmp_path / "home" / "ipfs" / "blocks").rglob("*.data")
    block.chmod(0o644)
    block.write_bytes(b"PRECIOUS")
    result = cli("store", "cat", cid)
    assert result.exit_code == 4
    assert result.stderr.startswith(f"error: block {cid} is corrupted on disk")
    assert result.stderr.rstrip().endswith("remove it and fetch it again")


def test_store_uses_ipfs_dir_option(cli, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("a")
    folder = tmp_path / "custom-store"
    assert cli("store", "--ipfs-dir", str(folder), "add", str(path)).exit_code == 0
    assert list((folder / "blocks").rglob("*.data"))


def test_python_dash_m_requester_works(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "requester", "cid", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku\n"


def test_store_add_of_a_fifo_is_refused_instead_of_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    store = ["store", "--ipfs-dir", str(tmp_path / "ipfs")]
    env = {key: value for key, value in os.environ.items() if key != "IPFS_API"}
    result = subprocess.run(
        [sys.executable, "-m", "requester", *store, "add", str(fifo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # before the fix the add blocked in open() forever
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: unrecognized file type for {fifo}; add regular files and folders\n"
    )
