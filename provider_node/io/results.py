"""Turning a finished run into one pinned result directory whose digest goes on-chain.

The directory holds the collected outputs (only the paths the spec lists, if it lists any),
the full logs and ``manifest.json`` (status, exit code, applied limits, per-file sha256 and
CID, refused entries, which cap stopped the collection, what each log stream dropped); see
:mod:`jobmarket.spec.result`. A run that failed, timed out, was OOM-killed or exceeded an output
cap is published the same way: the requester gets the logs and the status. The collector
keeps only what the manifest can hold, so a result is always publishable.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from jobmarket.content.cid import Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import RefusedFile, ResultManifest
from jobmarket.spec.result_dir import build_result_dir, publish_result
from provider_node.executor import ExecutionResult

log = logging.getLogger("provider_node")


def publish_execution(
    store: ContentStore,
    result: ExecutionResult,
    *,
    job_id: int,
    spec: JobSpec,
    spec_cid: Cid,
    folder: Path,
) -> tuple[Cid, ResultManifest]:
    """Build the result directory in ``folder``, add and pin it; returns its root CID.

    Should the outputs still be refused (a rule the collector missed: it keeps only what can
    be published), the result is delivered without them, status ``output_limit`` and the
    reason in the manifest, rather than abandoning the claim for something the job wrote.
    """
    for leftover in (folder, _selection_folder(folder), _empty_folder(folder)):
        if leftover.exists():
            shutil.rmtree(leftover)
    folder.parent.mkdir(parents=True, exist_ok=True)
    outputs = result.output_dir
    if spec.outputs:
        outputs = _select(result.output_dir, spec.outputs, _selection_folder(folder))
    try:
        try:
            return _publish(store, result, folder, outputs, job_id=job_id, spec_cid=spec_cid)
        except (InvalidInput, ValueError) as err:  # ValueError: a schema refusal (pydantic)
            problem = str(getattr(err, "problem", err)).splitlines()[0][:150]
            log.warning("job %s: outputs not publishable (%s); delivering without", job_id, problem)
            shutil.rmtree(folder, ignore_errors=True)
            _empty_folder(folder).mkdir()
            return _publish(
                store,
                result,
                folder,
                _empty_folder(folder),
                job_id=job_id,
                spec_cid=spec_cid,
                output_limit=f"the outputs could not be published: {problem}",
            )
    finally:
        shutil.rmtree(_selection_folder(folder), ignore_errors=True)
        shutil.rmtree(_empty_folder(folder), ignore_errors=True)


def _publish(
    store: ContentStore,
    result: ExecutionResult,
    folder: Path,
    outputs: Path,
    *,
    job_id: int,
    spec_cid: Cid,
    output_limit: str | None = None,
) -> tuple[Cid, ResultManifest]:
    started = result.started_at or result.finished_at or datetime.now(UTC)
    finished = result.finished_at or started
    manifest = build_result_dir(
        folder,
        job_id=job_id,
        outputs_dir=outputs,
        stdout_log=result.stdout_path,
        stderr_log=result.stderr_path,
        status="output_limit" if output_limit else result.status.value,
        exit_code=result.exit_code,
        started_at=started,
        finished_at=finished,
        image_id=result.image_id,
        limits=result.applied_limits(),
        refused=[RefusedFile.bounded(entry.path, entry.reason) for entry in result.refused],
        refused_total=max(result.refused_total, len(result.refused)),
        refused_by_kind=result.refused_by_kind,
        output_limit=output_limit or result.output_limit,
        stdout_capture=result.log_capture("stdout"),
        stderr_capture=result.log_capture("stderr"),
        spec_cid=spec_cid,
        gpus=result.gpu_records(),
    )
    try:
        cid = publish_result(store, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the store keeps the pinned copy
    return cid, manifest


def _empty_folder(folder: Path) -> Path:
    return folder.with_name(folder.name + ".empty")


def _selection_folder(folder: Path) -> Path:
    return folder.with_name(folder.name + ".selected")


def _select(outputs: Path, wanted: list[str], target: Path) -> Path:
    """A tree of only the requested paths (hard links: no copy); missing ones are skipped."""
    target.mkdir(parents=True)
    for relative in wanted:
        source = outputs / relative
        if source.is_symlink() or not source.exists():
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, symlinks=True, copy_function=os.link)
        else:
            os.link(source, destination)
    return target
