"""Building a result directory (provider side) and verifying one (requester side).

Provider: :func:`build_result_dir` copies the collected outputs and the logs into the layout
described in :mod:`jobmarket.spec.result`, hashes every file once (sha2-256 and UnixFS CID in
a single pass) and writes ``manifest.json``; :func:`publish_result` adds the folder to a
content store and returns the root CID whose digest goes on-chain.

Requester: :func:`fetch_result` checks the root CID against the on-chain digest, fetches the
tree through the store (every block verified, unsafe names refused) and then
:func:`check_result_tree` proves each file matches the manifest — size, sha2-256 and CID —
and that nothing unlisted is present. Any mismatch removes the fetched tree and raises
:class:`~jobmarket.errors.IntegrityError`: unverified output is never left for use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.content.importer import Importer, ImportParams
from jobmarket.content.store import ContentStore
from jobmarket.errors import IntegrityError, InvalidInput
from jobmarket.names import path_problem
from jobmarket.spec.result import (
    LOGS_DIR,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_REASON_CHARS,
    MAX_REFUSED_LISTED,
    OUTPUTS_DIR,
    STDERR_NAME,
    STDOUT_NAME,
    TAIL_CHARS,
    AppliedLimits,
    FileRecord,
    LogCapture,
    Logs,
    RefusedFile,
    ResultManifest,
    Status,
    bounded_text,
)
from jobmarket.spec.validation import DocumentInvalid

RESULT_PARAMS = ImportParams(cid_version=1, hidden=True)
"""How results are imported: CIDv1, raw leaves, default chunks, hidden files included."""

_READ_CHUNK = 1 << 20


class _HashingReader:
    """A read-only stream that feeds a sha2-256 as the importer reads through it."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def readinto(self, buffer: memoryview) -> int:
        count = self._stream.readinto(buffer)
        if count:
            self.sha256.update(buffer[:count])
        return count


def record_file(path: Path, relative: str) -> FileRecord:
    """Size, sha2-256 and CIDv1 of one file, reading it once."""
    with open(path, "rb", buffering=0) as stream:
        hashing = _HashingReader(stream)
        node = Importer(RESULT_PARAMS).add_stream(hashing)  # type: ignore[arg-type]
    return FileRecord(
        path=relative, size=node.filesize, sha256=hashing.sha256.hexdigest(), cid=str(node.cid)
    )


def _tail(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as stream:
        stream.seek(max(0, size - TAIL_CHARS * 4))
        text = stream.read().decode("utf-8", errors="replace")
    return text[-TAIL_CHARS:]


def _copy_outputs(source: Path, target: Path, refused: list[RefusedFile]) -> list[str]:
    """Copy regular files and folders only, never following links; returns copied paths.

    Names the manifest could not hold (:mod:`jobmarket.names`) are refused, not fatal: a
    provider's collector refuses them already, this keeps any other caller's result valid.
    """
    copied: list[str] = []
    target.mkdir()
    for folder, dirnames, filenames in os.walk(source, followlinks=False):
        relative_folder = Path(folder).relative_to(source)
        dirnames.sort()  # os.walk then visits folders, and lists refusals, in the same order
        for name in list(dirnames):
            here = Path(folder) / name
            relative = (relative_folder / name).as_posix()
            problem = path_problem(relative)
            if here.is_symlink() or problem:
                reason = f"path {problem}" if problem else "symbolic link"
                refused.append(RefusedFile.bounded(relative, reason))
                dirnames.remove(name)
                continue
            (target / relative).mkdir()
        for name in sorted(filenames):
            here = Path(folder) / name
            relative = (relative_folder / name).as_posix()
            mode = here.lstat().st_mode
            problem = path_problem(relative)
            if not stat.S_ISREG(mode) or problem:
                kind = "symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                refused.append(
                    RefusedFile.bounded(relative, f"path {problem}" if problem else kind)
                )
                continue
            descriptor = os.open(here, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "rb") as src, open(target / relative, "xb") as dst:
                shutil.copyfileobj(src, dst, _READ_CHUNK)
            copied.append(relative)
    return sorted(copied)


def build_result_dir(
    destination: str | os.PathLike[str],
    *,
    job_id: int,
    outputs_dir: str | os.PathLike[str],
    stdout_log: str | os.PathLike[str],
    stderr_log: str | os.PathLike[str],
    status: Status,
    exit_code: int | None,
    started_at: datetime,
    finished_at: datetime,
    image_id: str,
    limits: AppliedLimits,
    refused: Iterable[RefusedFile] = (),
    spec_cid: Cid | str | None = None,
    refused_total: int | None = None,
    refused_by_kind: Mapping[str, int] | None = None,
    output_limit: str | None = None,
    stdout_capture: LogCapture | None = None,
    stderr_capture: LogCapture | None = None,
) -> ResultManifest:
    """Lay out a result folder at ``destination`` (must not exist) and write its manifest.

    ``refused`` may be longer than the manifest lists (the first ``MAX_REFUSED_LISTED``);
    ``refused_total`` and ``refused_by_kind`` count everything, also what the caller no
    longer holds one by one.
    """
    root = Path(destination)
    if root.exists():
        raise InvalidInput(f"{root} already exists; give a new folder for the result")
    root.mkdir(parents=True)
    refused_files = [RefusedFile.bounded(entry.path, entry.reason) for entry in refused]
    given = len(refused_files)
    copied = _copy_outputs(Path(outputs_dir), root / OUTPUTS_DIR, refused_files)
    total = max(refused_total or 0, given) + len(refused_files) - given
    outputs = [record_file(root / OUTPUTS_DIR / relative, relative) for relative in copied]
    logs_dir = root / LOGS_DIR
    logs_dir.mkdir()
    shutil.copyfile(stdout_log, logs_dir / STDOUT_NAME)
    shutil.copyfile(stderr_log, logs_dir / STDERR_NAME)
    logs = Logs(
        cid=str(Importer(RESULT_PARAMS).add_directory(logs_dir).cid),
        stdout=record_file(logs_dir / STDOUT_NAME, STDOUT_NAME),
        stderr=record_file(logs_dir / STDERR_NAME, STDERR_NAME),
        stdout_tail=_tail(logs_dir / STDOUT_NAME),
        stderr_tail=_tail(logs_dir / STDERR_NAME),
        stdout_capture=stdout_capture,
        stderr_capture=stderr_capture,
    )
    manifest = ResultManifest(
        job_id=job_id,
        spec_cid=str(spec_cid) if spec_cid is not None else None,
        status=status,
        exit_code=exit_code,
        runtime_s=round(max(0.0, (finished_at - started_at).total_seconds()), 3),
        started_at=started_at,
        finished_at=finished_at,
        image_id=image_id,
        limits=limits,
        outputs=outputs,
        refused=refused_files[:MAX_REFUSED_LISTED],
        refused_total=total if total > len(refused_files) or refused_by_kind else None,
        refused_by_kind=dict(refused_by_kind) if refused_by_kind else None,
        output_limit=bounded_text(output_limit, MAX_REASON_CHARS) if output_limit else None,
        logs=logs,
    )
    document = manifest.to_json()
    if len(document) > MAX_MANIFEST_BYTES:  # cannot happen for a collector's outputs
        shutil.rmtree(root, ignore_errors=True)
        raise InvalidInput(
            f"the manifest of {len(outputs)} outputs would be {len(document)} bytes, more than "
            f"a requester accepts ({MAX_MANIFEST_BYTES})",
            "deliver fewer files (the collector's output caps keep within this)",
        )
    (root / MANIFEST_NAME).write_bytes(document)
    return manifest


def publish_result(store: ContentStore, result_dir: str | os.PathLike[str]) -> Cid:
    """Add and pin a result folder; the returned CID's digest is what ``submit_result`` takes."""
    return store.add_dir(result_dir, pin=True, params=RESULT_PARAMS)


# -- requester side ------------------------------------------------------------------------------


def _problem(root: Path, text: str) -> IntegrityError:
    return IntegrityError(
        f"result in {root} does not match its manifest: {text}",
        "dispute the result; do not use these files",
    )


def _files_under(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*"):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise _problem(folder, f"{path.relative_to(folder)} is not a regular file or folder")
        if path.is_file():
            found.add(path.relative_to(folder).as_posix())
    return found


def _check_record(root: Path, folder: Path, record: FileRecord) -> None:
    path = folder / record.path
    if not path.is_file() or path.is_symlink():
        raise _problem(root, f"{record.path} is listed but missing")
    actual = record_file(path, record.path)
    for field in ("size", "sha256", "cid"):
        if getattr(actual, field) != getattr(record, field):
            raise _problem(
                root,
                f"{record.path} has {field} {getattr(actual, field)}, "
                f"the manifest says {getattr(record, field)}",
            )


def check_result_tree(root: str | os.PathLike[str], job_id: int | None = None) -> ResultManifest:
    """Prove a local result folder matches its own manifest; returns the manifest."""
    root = Path(root)
    top = {entry.name for entry in root.iterdir()}
    expected_top = {MANIFEST_NAME, OUTPUTS_DIR, LOGS_DIR}
    if top != expected_top:
        raise _problem(root, f"top level holds {sorted(top)}, expected {sorted(expected_top)}")
    try:
        manifest = ResultManifest.from_file(root / MANIFEST_NAME)
    except DocumentInvalid as err:
        raise _problem(root, "manifest.json is invalid: " + "; ".join(err.lines)) from None
    if job_id is not None and manifest.job_id != job_id:
        raise _problem(root, f"manifest is for job {manifest.job_id}, not job {job_id}")
    outputs = root / OUTPUTS_DIR
    listed = {record.path for record in manifest.outputs}
    if len(listed) != len(manifest.outputs):
        raise _problem(root, "the manifest lists a file twice")
    present = _files_under(outputs)
    if present != listed:
        extra, missing = sorted(present - listed), sorted(listed - present)
        raise _problem(root, f"unlisted files {extra[:5]}, missing files {missing[:5]}")
    for record in manifest.outputs:
        _check_record(root, outputs, record)
    logs = root / LOGS_DIR
    if _files_under(logs) != {STDOUT_NAME, STDERR_NAME}:
        raise _problem(root, f"logs/ must hold exactly {STDOUT_NAME} and {STDERR_NAME}")
    _check_record(root, logs, manifest.logs.stdout)
    _check_record(root, logs, manifest.logs.stderr)
    logs_cid = Importer(RESULT_PARAMS).add_directory(logs).cid
    if str(logs_cid) != manifest.logs.cid:
        raise _problem(root, f"logs/ has CID {logs_cid}, the manifest says {manifest.logs.cid}")
    return manifest


def fetch_result(
    store: ContentStore,
    root: Cid | str,
    expected_digest: bytes,
    destination: str | os.PathLike[str],
    *,
    job_id: int | None = None,
) -> ResultManifest:
    """Fetch a submitted result and verify it end to end against the on-chain digest."""
    cid = root if isinstance(root, Cid) else Cid.parse(root)
    if cid.codec != DAG_PB:
        raise IntegrityError(f"result {cid} is not a UnixFS directory (dag-pb)", "dispute it")
    if cid.digest != bytes(expected_digest):
        raise IntegrityError(
            f"result {cid} does not match the digest on chain 0x{bytes(expected_digest).hex()}",
            "fetch the CID derived from the on-chain digest (Cid.from_digest(digest, DAG_PB))",
        )
    target = Path(destination)
    store.get(cid, target)
    try:
        return check_result_tree(target, job_id)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
