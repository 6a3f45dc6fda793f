"""Building a result directory (provider side) and verifying one (requester side).

Provider: :func:`build_result_dir` copies the collected outputs and the logs into the layout
described in :mod:`jobmarket.spec.result`, hashes every file once (sha2-256 and UnixFS CID in
a single pass) and writes ``manifest.json``; :func:`publish_result` adds the folder to a
content store and returns the root CID whose digest goes on-chain.

Requester: :func:`fetch_result` checks the root CID against the on-chain digest, reads and
checks the manifest and the folder listings before writing anything, refuses what exceeds the
download limit or the free space, writes each file capped at its declared size and proves it
matches the manifest — size, sha2-256 and CID — before the folder is renamed into place. Any
mismatch raises :class:`~jobmarket.errors.IntegrityError` and leaves nothing behind.
:func:`check_result_tree` proves the same of a result folder already on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobmarket.content import reader
from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.content.dagpb import UnixFSType
from jobmarket.content.importer import Importer, ImportParams
from jobmarket.content.store import ContentStore
from jobmarket.errors import IntegrityError, InvalidInput, UserError
from jobmarket.fileio import partial_sibling
from jobmarket.names import path_problem
from jobmarket.sizes import format_size
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
    GpuRecord,
    LogCapture,
    Logs,
    RefusedFile,
    ResultManifest,
    Status,
    bounded_text,
)
from jobmarket.spec.validation import DocumentInvalid
from jobmarket.terminal import printable

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
    gpus: Iterable[GpuRecord] = (),
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
        gpus=list(gpus) or None,
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


DEFAULT_MAX_RESULT_BYTES = 1 << 30
"""What ``fetch_result`` writes at most unless told otherwise (``--max-size``): 1 GiB."""

FREE_SPACE_MARGIN_BYTES = 64 << 20
"""Free space a download leaves on the target's filesystem, beyond what the result needs."""

ENTRY_COST_BYTES = 4096
"""What one file or folder costs a filesystem at least (a block), counted against the limits."""


class ResultTooLarge(UserError):
    """The result would exceed the download limit or the free space: nothing was written."""


def _refused(cid: Cid, text: str) -> IntegrityError:
    return IntegrityError(
        f"result {cid} does not match its manifest: {printable(text)}",
        "dispute the result; nothing was written",
    )


@dataclass
class _Planned:
    """What a verified manifest says will be written, and where each file's DAG is."""

    manifest_bytes: bytes
    manifest: ResultManifest
    files: list[tuple[str, Cid, FileRecord]]  # path under the result folder, DAG, record
    folders: list[str]  # every folder below the result folder, parents first

    @property
    def needed_bytes(self) -> int:
        entries = 1 + len(self.files) + len(self.folders)  # 1: manifest.json
        data = len(self.manifest_bytes) + sum(record.size for _, _, record in self.files)
        return data + entries * ENTRY_COST_BYTES


def fetch_result(
    store: ContentStore,
    root: Cid | str,
    expected_digest: bytes,
    destination: str | os.PathLike[str],
    *,
    job_id: int | None = None,
    spec_cid: Cid | str | None = None,
    max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
) -> ResultManifest:
    """Fetch a submitted result and verify it end to end against the on-chain digest.

    Verify before writing, and bound what is written: the root must be the on-chain digest;
    the manifest is read (at most :data:`MAX_MANIFEST_BYTES`) and checked (job, spec, paths
    under the names rule book) and the folder listings matched against it, all before a byte
    reaches the disk; the total the manifest declares must fit ``max_bytes`` and the target
    filesystem's free space less :data:`FREE_SPACE_MARGIN_BYTES`. Each file is then written
    into a temporary folder next to ``destination`` with a cap of its declared size, hashed as
    it is written and compared with the manifest (size, sha2-256, CID); only a result that
    verified completely is renamed to ``destination``. On any refusal ``destination`` is not
    created and the temporary folder is removed.
    """
    cid = root if isinstance(root, Cid) else Cid.parse(root)
    if cid.codec != DAG_PB:
        raise IntegrityError(f"result {cid} is not a UnixFS directory (dag-pb)", "dispute it")
    if cid.digest != bytes(expected_digest):
        raise IntegrityError(
            f"result {cid} does not match the digest on chain 0x{bytes(expected_digest).hex()}",
            "fetch the CID derived from the on-chain digest (Cid.from_digest(digest, DAG_PB))",
        )
    target = Path(destination)
    _check_destination(target)
    get_block = store.get_block
    entries = _top_level(get_block, cid)
    manifest_bytes, manifest = _read_manifest(get_block, cid, entries[MANIFEST_NAME])
    _check_manifest_is_ours(cid, manifest, job_id, spec_cid)
    room = _room(target.parent, max_bytes)
    plan = _Planned(manifest_bytes, manifest, [], [])
    _check_fits(cid, manifest, _declared_bytes(manifest_bytes, manifest), room)
    _plan_outputs(get_block, cid, entries[OUTPUTS_DIR], plan, room)
    _plan_logs(get_block, cid, entries[LOGS_DIR], plan)
    staging = partial_sibling(target)
    if staging.exists() or staging.is_symlink():
        _remove_tree(staging)
    try:
        _write_planned(get_block, cid, plan, staging)
        if target.exists() or target.is_symlink():
            raise InvalidInput(
                f"{target} appeared while the result was downloading; it was left as it is",
                "download again into a folder that does not exist",
            )
        os.rename(staging, target)
    except BaseException:
        _remove_tree(staging)
        raise
    return manifest


def _check_destination(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise InvalidInput(
            f"{target} already exists", "give a folder that does not exist yet for the result"
        )
    if not target.parent.is_dir():
        raise InvalidInput(f"folder {target.parent} does not exist", "create it first")


def _top_level(get_block: reader.GetBlock, cid: Cid) -> dict[str, reader.Entry]:
    entries = {entry.name: entry for entry in reader.list_directory(get_block, cid)}
    expected = {MANIFEST_NAME, OUTPUTS_DIR, LOGS_DIR}
    if set(entries) != expected:
        raise _refused(cid, f"top level holds {sorted(entries)}, expected {sorted(expected)}")
    return entries


def _read_manifest(
    get_block: reader.GetBlock, cid: Cid, entry: reader.Entry
) -> tuple[bytes, ResultManifest]:
    data = bytearray()
    try:
        for piece in reader.iter_file(get_block, entry.cid):
            data += piece
            if len(data) > MAX_MANIFEST_BYTES:
                raise _refused(cid, f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    except InvalidInput as err:
        raise _refused(cid, f"{MANIFEST_NAME} is not a file ({err.problem})") from None
    try:
        return bytes(data), ResultManifest.parse(bytes(data))
    except DocumentInvalid as err:
        raise _refused(cid, f"{MANIFEST_NAME} is invalid: " + "; ".join(err.lines)) from None


def _check_manifest_is_ours(
    cid: Cid, manifest: ResultManifest, job_id: int | None, spec_cid: Cid | str | None
) -> None:
    if job_id is not None and manifest.job_id != job_id:
        raise _refused(cid, f"the manifest is for job {manifest.job_id}, not job {job_id}")
    made_for = manifest.spec_cid
    expected = Cid.parse(spec_cid) if isinstance(spec_cid, str) else spec_cid
    if expected is not None and made_for is not None and Cid.parse(made_for) != expected:
        raise IntegrityError(
            f"the result {cid} was made for spec {made_for}, but the job's spec is {spec_cid}",
            "dispute it; nothing was written",
        )
    paths = [record.path for record in manifest.outputs]
    if len(set(paths)) != len(paths):
        raise _refused(cid, "the manifest lists a file twice")
    for path in paths:
        problem = path_problem(path)
        if problem:
            raise _refused(cid, f"output path '{path[:200]}' {problem}")


@dataclass(frozen=True)
class _Room:
    """The most a download may write, what sets that bound, and what to do when it is hit."""

    bytes: int
    bound: str
    hint: str


def _room(folder: Path, max_bytes: int) -> _Room:
    try:
        usage = shutil.disk_usage(folder)
    except OSError as err:
        raise InvalidInput(f"cannot see the free space of {folder}: {err.strerror}") from None
    free = max(0, usage.free - FREE_SPACE_MARGIN_BYTES)
    if free < max_bytes:
        return _Room(
            free,
            f"the {format_size(usage.free)} free in {folder} "
            f"(less {format_size(FREE_SPACE_MARGIN_BYTES)} kept spare)",
            "free some space or download into a folder on another filesystem",
        )
    return _Room(
        max_bytes,
        f"the download limit of {format_size(max_bytes)}",
        "if you expect that much, raise the limit (--max-size; max_size= in the Python API)",
    )


def _declared_bytes(manifest_bytes: bytes, manifest: ResultManifest) -> int:
    logs = manifest.logs
    files = [*manifest.outputs, logs.stdout, logs.stderr]
    data = len(manifest_bytes) + sum(record.size for record in files)
    return data + (len(files) + 4) * ENTRY_COST_BYTES  # + manifest.json and three folders


def _check_fits(cid: Cid, manifest: ResultManifest, needed: int, room: _Room) -> None:
    if needed > room.bytes:
        raise ResultTooLarge(
            f"the result of job {manifest.job_id} ({cid}) needs {format_size(needed)} "
            f"({len(manifest.outputs)} output files), more than {room.bound}; "
            "nothing was written",
            room.hint,
        )


def _plan_outputs(
    get_block: reader.GetBlock,
    cid: Cid,
    outputs: reader.Entry,
    plan: _Planned,
    room: _Room,
) -> None:
    """Match the outputs folder's listings with the manifest, reading folder blocks only."""
    listed = {record.path: record for record in plan.manifest.outputs}
    plan.folders.append(OUTPUTS_DIR)
    pending: list[tuple[str, Cid]] = [("", outputs.cid)]
    while pending:
        folder, folder_cid = pending.pop()
        decoded = reader.decode(folder_cid, get_block(folder_cid))
        if decoded.kind not in (UnixFSType.DIRECTORY, UnixFSType.HAMT_SHARD):
            shown = f"{OUTPUTS_DIR}/{folder}" if folder else OUTPUTS_DIR
            raise _refused(cid, f"{shown} is not listed as a file and is not a folder")
        for entry in reader.list_directory(get_block, folder_cid, decoded):
            path = f"{folder}/{entry.name}" if folder else entry.name
            problem = path_problem(path)
            if problem:
                raise _refused(cid, f"output path '{path[:200]}' {problem}")
            record = listed.pop(path, None)
            if record is not None:
                plan.files.append((f"{OUTPUTS_DIR}/{path}", entry.cid, record))
                continue
            plan.folders.append(f"{OUTPUTS_DIR}/{path}")
            _check_fits(cid, plan.manifest, plan.needed_bytes, room)
            pending.append((path, entry.cid))
    if listed:
        missing = sorted(listed)[:5]
        raise _refused(cid, f"listed files are missing: {missing}")
    plan.folders.sort()  # parents before children


def _plan_logs(get_block: reader.GetBlock, cid: Cid, logs: reader.Entry, plan: _Planned) -> None:
    entries = {entry.name: entry for entry in reader.list_directory(get_block, logs.cid)}
    if set(entries) != {STDOUT_NAME, STDERR_NAME}:
        raise _refused(cid, f"{LOGS_DIR}/ must hold exactly {STDOUT_NAME} and {STDERR_NAME}")
    if logs.cid != Cid.parse(plan.manifest.logs.cid):
        listed = plan.manifest.logs.cid
        raise _refused(cid, f"{LOGS_DIR}/ is {logs.cid}, the manifest says {listed}")
    plan.folders.append(LOGS_DIR)
    records = plan.manifest.logs
    for name, record in ((STDOUT_NAME, records.stdout), (STDERR_NAME, records.stderr)):
        plan.files.append((f"{LOGS_DIR}/{name}", entries[name].cid, record))


def _write_planned(get_block: reader.GetBlock, cid: Cid, plan: _Planned, staging: Path) -> None:
    try:
        staging.mkdir()
        (staging / MANIFEST_NAME).write_bytes(plan.manifest_bytes)
        for folder in plan.folders:
            (staging / folder).mkdir()
        for path, file_cid, record in plan.files:
            _write_file(get_block, cid, file_cid, record, staging / path, path)
    except OSError as err:
        raise UserError(
            f"cannot write the result next to {staging.parent}: {err.strerror}",
            "free some space or download into another folder; nothing was kept",
        ) from None


def _write_file(
    get_block: reader.GetBlock,
    cid: Cid,
    file_cid: Cid,
    record: FileRecord,
    target: Path,
    shown: str,
) -> None:
    """Write one file, never more than its declared size, and prove it is what was listed."""
    sha256 = hashlib.sha256()
    written = 0
    with open(target, "xb") as out:
        try:
            for piece in reader.iter_file(get_block, file_cid):
                written += len(piece)
                if written > record.size:
                    raise _refused(cid, f"{shown} holds more than the {record.size} bytes listed")
                sha256.update(piece)
                out.write(piece)
        except InvalidInput as err:
            problem = f"{shown} is listed as a file but is not one ({err.problem})"
            raise _refused(cid, problem) from None
    for field, actual, listed in (
        ("size", written, record.size),
        ("sha256", sha256.hexdigest(), record.sha256),
        ("CID", file_cid, Cid.parse(record.cid)),
    ):
        if actual != listed:
            raise _refused(cid, f"{shown} has {field} {actual}, the manifest says {listed}")


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def read_manifest(
    store: ContentStore,
    root: Cid | str,
    expected_digest: bytes,
    *,
    job_id: int | None = None,
    spec_cid: Cid | str | None = None,
) -> ResultManifest:
    """A submitted result's manifest, verified against the on-chain digest, writing nothing
    (what ``requester jobs``/``status`` show: how the run ended, without a download)."""
    cid = root if isinstance(root, Cid) else Cid.parse(root)
    if cid.codec != DAG_PB or cid.digest != bytes(expected_digest):
        raise IntegrityError(
            f"result {cid} does not match the digest on chain 0x{bytes(expected_digest).hex()}",
            "dispute it",
        )
    entries = _top_level(store.get_block, cid)
    _, manifest = _read_manifest(store.get_block, cid, entries[MANIFEST_NAME])
    _check_manifest_is_ours(cid, manifest, job_id, spec_cid)
    return manifest


def read_log(
    store: ContentStore,
    root: Cid | str,
    expected_digest: bytes,
    stream: str,
    *,
    job_id: int | None = None,
    spec_cid: Cid | str | None = None,
) -> bytes:
    """One log (``stdout``/``stderr``) of a submitted result, checked against the manifest
    (size and sha2-256) before it is returned; nothing is written."""
    cid = root if isinstance(root, Cid) else Cid.parse(root)
    manifest = read_manifest(store, cid, expected_digest, job_id=job_id, spec_cid=spec_cid)
    name = STDOUT_NAME if stream == "stdout" else STDERR_NAME
    record = manifest.logs.stdout if stream == "stdout" else manifest.logs.stderr
    entries = _top_level(store.get_block, cid)
    logs = {e.name: e for e in reader.list_directory(store.get_block, entries[LOGS_DIR].cid)}
    if name not in logs or logs[name].cid != Cid.parse(record.cid):
        raise _refused(cid, f"{LOGS_DIR}/{name} is not the file its manifest lists")
    data = bytearray()
    for piece in reader.iter_file(store.get_block, logs[name].cid):
        data += piece
        if len(data) > record.size:
            break
    if len(data) != record.size or hashlib.sha256(data).hexdigest() != record.sha256:
        raise _refused(cid, f"{LOGS_DIR}/{name} does not match its manifest")
    return bytes(data)
