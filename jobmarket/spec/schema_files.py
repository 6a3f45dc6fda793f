"""JSON Schema files for the protocol documents, committed under ``jobmarket/spec/schemas/``.

Other implementations (a web UI, a provider in another language) validate against these
files, so they must always match the pydantic models. Regenerate after changing a model::

    python -m jobmarket.spec.schema_files

A test fails when a committed file is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from jobmarket.spec.capabilities import ProviderCapabilities
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import ResultManifest

SCHEMA_DIR = Path(__file__).with_name("schemas")
DOCUMENTS: dict[str, type[BaseModel]] = {
    "job-spec": JobSpec,
    "result-manifest": ResultManifest,
    "provider-capabilities": ProviderCapabilities,
}


def schema_text(name: str) -> str:
    """The JSON Schema (draft 2020-12) of one document, as committed."""
    model = DOCUMENTS[name]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://jobmarket.invalid/schemas/{name}.v1.json",
        **model.model_json_schema(mode="validation"),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.v1.json"


def stale_schemas() -> list[str]:
    """Names whose committed file differs from what the models generate."""
    stale = []
    for name in DOCUMENTS:
        path = schema_path(name)
        if not path.is_file() or path.read_text() != schema_text(name):
            stale.append(name)
    return stale


def write_schemas() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for name in DOCUMENTS:
        path = schema_path(name)
        path.write_text(schema_text(name))
        written.append(path)
    return written


def main() -> int:
    for path in write_schemas():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
