"""Fixtures for the content layer: Kubo's deterministic test data, stores, the CLI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from content_data import VECTORS_FILE, chacha20_stream

from jobmarket.content.embedded import EmbeddedStore
from requester.cli import main


@pytest.fixture(scope="session")
def kubo_vectors() -> dict:
    return json.loads(VECTORS_FILE.read_text())


@pytest.fixture(scope="session")
def vector_input(tmp_path_factory) -> Callable[[dict], Path]:
    """A file holding a vector's input; each seed's stream is generated once per session."""
    folder = tmp_path_factory.mktemp("vector-inputs")
    streams: dict[str, bytes] = {}

    def make(spec: dict) -> Path:
        if "literal" in spec:
            name = "literal-" + hashlib.sha256(spec["literal"].encode()).hexdigest()[:12]
            data = spec["literal"].encode()
        else:
            seed, size = spec["chacha20"]["seed"], spec["chacha20"]["size"]
            name = f"chacha20-{seed}-{size}"
            if len(streams.get(seed, b"")) < size:
                streams[seed] = chacha20_stream(seed, size)
            data = streams[seed][:size]
        path = folder / name
        if not path.exists():
            path.write_bytes(data)
        return path

    return make


@pytest.fixture
def store(tmp_path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "ipfs", fsync=False)


@pytest.fixture
def cli(tmp_path, monkeypatch) -> Callable[..., Result]:
    """Run ``requester`` in-process against an embedded store in a temporary folder."""
    monkeypatch.setenv("JOBMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IPFS_API", raising=False)
    monkeypatch.delenv("JOBMARKET_IPFS_DIR", raising=False)

    def run(*args: str, input: bytes | None = None) -> Result:
        return CliRunner(mix_stderr=False).invoke(main, list(args), input=input)

    return run
