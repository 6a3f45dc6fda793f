"""Committed JSON Schemas stay current; `requester spec` validates and prints them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from jobmarket.spec.schema_files import DOCUMENTS, schema_path, schema_text, stale_schemas
from requester.cli import main


def _run(*args: str):
    return CliRunner(mix_stderr=False).invoke(main, list(args))


def test_committed_schemas_match_the_models():
    assert stale_schemas() == [], "run: python -m jobmarket.spec.schema_files"
    for name in DOCUMENTS:
        schema = json.loads(schema_path(name).read_text())
        assert schema["properties"]["version"]["const"] == 1


def test_spec_schema_prints_the_committed_file():
    result = _run("spec", "schema")
    assert result.exit_code == 0
    assert result.stdout == schema_text("job-spec")
    assert _run("spec", "schema", "result-manifest").stdout == schema_text("result-manifest")


def test_spec_validate_prints_the_cid_the_chain_will_reference(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"image": "alpine:3.20", "command": ["echo", "hi"]}))
    result = _run("spec", "validate", str(path))
    assert result.exit_code == 0
    assert result.stdout.startswith("ok bafkrei")
    assert "not pinned by digest" in result.stderr


def test_spec_validate_prints_one_error_line_per_problem(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"image": "alpine", "command": [], "resources": {"memory_mb": 1e6}}))
    result = _run("spec", "validate", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path}: command: must have at least 1 item",
        f"error: {path}: resources.memory_mb: must be ≤ 65536",
    ]


def test_spec_validate_of_a_missing_file_is_one_error_line(tmp_path):
    result = _run("spec", "validate", str(tmp_path / "absent.json"), "--kind", "result-manifest")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'absent.json'} does not exist; check the path\n"


def test_spec_validate_of_deeply_nested_json_is_one_error_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    result = _run("spec", "validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: document: nests deeper than 64 levels\n"
