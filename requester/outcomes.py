"""How a job's run ended and what it is called, at a glance, without downloading anything.

``requester jobs`` and ``status`` show the result's status (succeeded / failed with its exit
code / timeout / output limit) from the result manifest, and the job's name from its spec.
Both are fetched by the digest the chain holds and verified (the store hashes every block; the
manifest must name the job and its spec); they are content-addressed, so a verified copy is
cached for the life of the :class:`Outcomes` (one per ``Requester``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobmarket.chain.client import MarketClient
from jobmarket.content.store import ContentStore
from jobmarket.errors import UserError
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import ResultManifest
from jobmarket.spec.result_dir import read_manifest
from requester.history import result_cid, spec_cid

#: The manifest's status as a person reads it.
STATUS_WORDS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "timeout": "timed out",
    "oom": "out of memory",
    "output_limit": "output limit",
    "error": "provider error",
}


def outcome_text(manifest: ResultManifest) -> str:
    """``succeeded``, ``failed (exit 3)``, ``timed out``, ``output limit``…"""
    words = STATUS_WORDS.get(manifest.status, manifest.status)
    if manifest.status == "failed" and manifest.exit_code is not None:
        return f"{words} (exit {manifest.exit_code})"
    return words


@dataclass
class Outcomes:
    """Verified manifests and spec names, cached by digest (content never changes)."""

    client: MarketClient
    store: ContentStore | None
    _manifests: dict[bytes, ResultManifest | str] = field(default_factory=dict)
    _names: dict[bytes, str | None] = field(default_factory=dict)

    def name(self, spec_digest: bytes) -> str | None:
        """The job's ``name`` from its spec (None when it has none or cannot be read)."""
        if spec_digest not in self._names:
            try:
                spec = JobSpec.fetch(self.store, spec_digest) if self.store else None
            except UserError:
                spec = None
            self._names[spec_digest] = spec.name if spec else None
        return self._names[spec_digest]

    def manifest(self, job_id: int, spec_digest: bytes) -> ResultManifest | str | None:
        """The latest result's verified manifest; a phrase saying why not; None: no result."""
        submitted = self.client.job_event(job_id, "ResultSubmitted")
        if submitted is None:
            return None
        digest = bytes(submitted.args["result_digest"])
        if digest not in self._manifests:
            if self.store is None:
                return "unknown (no content store)"
            try:
                self._manifests[digest] = read_manifest(
                    self.store,
                    result_cid(digest),
                    digest,
                    job_id=job_id,
                    spec_cid=spec_cid(spec_digest),
                )
            except UserError as err:
                return f"unverified ({err.problem})"
        return self._manifests[digest]

    def outcome(self, job_id: int, spec_digest: bytes) -> str | None:
        found = self.manifest(job_id, spec_digest)
        return found if found is None or isinstance(found, str) else outcome_text(found)
