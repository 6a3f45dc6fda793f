"""Protocol documents: job spec, result manifest, provider capabilities (pydantic v2).

Each document has a ``version`` field, a canonical JSON form and a committed JSON Schema
(``jobmarket/spec/schemas/``). Validation failures are :class:`DocumentInvalid` errors whose
``lines`` read ``field.path: rule``.
"""

from jobmarket.spec.capabilities import Hardware, ProviderCapabilities
from jobmarket.spec.job import InputMount, JobSpec, Resources
from jobmarket.spec.result import (
    AppliedLimits,
    FileRecord,
    Logs,
    RefusedFile,
    ResultManifest,
)
from jobmarket.spec.validation import DocumentInvalid, canonical_json, error_lines

__all__ = [
    "AppliedLimits",
    "DocumentInvalid",
    "FileRecord",
    "Hardware",
    "InputMount",
    "JobSpec",
    "Logs",
    "ProviderCapabilities",
    "RefusedFile",
    "Resources",
    "ResultManifest",
    "canonical_json",
    "error_lines",
]
