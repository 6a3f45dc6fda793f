"""A job's inputs: inspected before claiming, fetched (verified) and staged read-only at /in.

Every input of the spec is UnixFS content named by a CID; the store verifies each block
against it, so what the job reads under ``/in/<path>`` is exactly what the requester posted.

Before any money is at stake the node runs :func:`jobmarket.spec.inputs.inspect_inputs`: every
block of every input read, every rule staging applies checked, the bytes summed against the
job's ``resources.disk_mb``. Staging then writes with that byte cap, so a DAG that claims a
small size but delivers more is stopped at the first byte past it.

Symbolic links in inputs are staged as links inside ``/in`` (what ``store add`` recorded),
never followed on the host; the staged tree is made world-readable (files 0644, folders 0755)
because jobs run as uid 65534, and a link's target is never touched by that.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from jobmarket.content.cid import Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import UserError
from jobmarket.spec.inputs import input_allowance
from jobmarket.spec.job import JobSpec
from jobmarket.terminal import printable


class InputsUnavailable(UserError):
    """An input cannot be fetched or does not verify: the job cannot run here."""


def stage_inputs(store: ContentStore, spec: JobSpec, folder: Path) -> Path | None:
    """Fetch the inputs into ``folder`` (replacing any earlier attempt); None if there are none.

    Writes at most the job's disk allowance (whatever the DAG claims) and recreates symbolic
    links as links.
    """
    if not spec.inputs:
        return None
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    remaining = input_allowance(spec)
    try:
        for mount in spec.inputs:
            target = folder / mount.path
            target.parent.mkdir(parents=True, exist_ok=True)
            store.get(Cid.parse(mount.cid), target, max_bytes=remaining, symlinks=True)
            remaining -= _bytes_written(target)
    except (UserError, OSError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        problem = err.problem if isinstance(err, UserError) else printable(str(err))
        raise InputsUnavailable(
            f"input {mount.path} ({mount.cid}) could not be staged: {problem}",
            "the job is given back (abandoned)",
        ) from None
    _make_readable(folder)
    return folder


def _bytes_written(path: Path) -> int:
    """File bytes under ``path`` (links not followed, their own size not counted)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            entry = os.path.join(root, name)
            if not os.path.islink(entry):
                total += os.lstat(entry).st_size
    return total


def _make_readable(folder: Path) -> None:
    """Folders 0755, files 0644 for the job's user; links are skipped (chmod would follow
    them to whatever they point at on the host)."""
    os.chmod(folder, 0o755)
    for root, dirnames, filenames in os.walk(folder):  # does not descend into linked folders
        for names, mode in ((dirnames, 0o755), (filenames, 0o644)):
            for name in names:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.chmod(path, mode)


def remove_staged(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
