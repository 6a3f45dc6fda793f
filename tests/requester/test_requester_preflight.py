"""`requester post` runs the provider's own pre-claim checks before paying: a job every
provider would decline is refused with one line and nothing is sent (the nonce does not move).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from requester_support import IMAGE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))  # hostile_inputs

from hostile_inputs import file_bomb, folder_missing_a_leaf

from jobmarket.chain.accounts import test_account as dev_account

ME = dev_account(0).address
POST = ("post", "--image", IMAGE, "--cmd", "cat /in/data", "--price", "0.01")


@pytest.fixture
def no_transaction(chain):
    before = chain.nonce(ME)
    yield
    assert chain.nonce(ME) == before, "a transaction was sent"


def refused(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def test_a_300_character_input_name_is_one_error_line(cli, no_transaction, tmp_path):
    (tmp_path / "f").write_text("x")
    long_name = "n" * 300

    named = cli(*POST, "--input", f"{long_name}={tmp_path / 'f'}")
    bare = cli(*POST, "--input", f"{long_name}=f")

    refused(named, "is 300 bytes; a name may have at most 255 bytes")
    refused(bare, "does not exist")


def test_an_env_name_with_a_newline_is_refused(cli, no_transaction):
    refused(cli(*POST, "--env", "A\n=x"), "env: 'A\\n' is not a valid variable name")


def test_an_output_name_longer_than_a_filesystem_allows_is_refused(cli, no_transaction):
    refused(cli(*POST, "--output", "o" * 300), "outputs.0: component", "is 300 bytes")


def test_an_input_folder_whose_paths_grow_too_long_under_in_is_refused(
    cli, no_transaction, tmp_path
):
    folder = tmp_path / "data"
    deep = folder.joinpath(*["d" * 255] * 3)
    deep.mkdir(parents=True)
    (deep / ("f" * 255)).write_text("x")  # data/ + 3 x 256 + 255 bytes: 1,028 below /in

    refused(cli(*POST, "--input", str(folder)), "input /in/data", "at most 1024 bytes")


def test_an_input_cid_with_a_missing_leaf_is_refused(cli, no_transaction, store, tmp_path):
    root = folder_missing_a_leaf(store, tmp_path)

    refused(cli(*POST, "--input-cid", f"data={root}"), f"input /in/data ({root}): block")


def test_an_input_larger_than_the_disk_allowance_is_refused(cli, no_transaction, store, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"image": IMAGE, "command": ["true"]}))

    line = refused(
        cli("post", "--spec", str(spec), "--price", "0.01", "--input-cid", f"d={file_bomb(store)}"),
        "inputs: more than resources.disk_mb (1024 MiB)",
    )
    assert "no provider would take this job" in line


def test_a_deeply_nested_spec_file_is_one_error_line(cli, no_transaction, tmp_path):
    spec = tmp_path / "deep.json"
    spec.write_text("[" * 100_000 + "]" * 100_000)

    refused(cli("post", "--spec", str(spec), "--price", "0.01"), "nests deeper than 64 levels")


def test_an_input_folder_with_a_symlink_is_posted(cli, chain, tmp_path):
    """Links are staged faithfully as links inside /in, so the post goes through."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "file.txt").write_text("hello")
    (folder / "link").symlink_to("file.txt")

    result = cli(*POST, "--input", str(folder), "--json", "--anyway")  # no provider here

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["job_id"] >= 0
