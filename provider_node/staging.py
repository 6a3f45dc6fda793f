"""A job's inputs: checked before claiming, fetched (verified) and staged read-only at /in.

Every input of the spec is UnixFS content named by a CID; the store verifies each block
against it, so what the job reads under ``/in/<path>`` is exactly what the requester posted.
The staged tree is made world-readable (files 0644, folders 0755): jobs run as uid 65534.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from jobmarket.content.cid import Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import UserError
from jobmarket.spec.job import JobSpec


class InputsUnavailable(UserError):
    """An input cannot be fetched or does not verify: the job cannot run here."""


def missing_inputs(store: ContentStore, spec: JobSpec) -> list[str]:
    """Inputs whose root block cannot be had now (checked before any money is at stake)."""
    missing = []
    for mount in spec.inputs:
        try:
            store.get_block(Cid.parse(mount.cid))
        except UserError as err:
            missing.append(f"input {mount.path} ({mount.cid}): {err.problem}")
    return missing


def stage_inputs(store: ContentStore, spec: JobSpec, folder: Path) -> Path | None:
    """Fetch the inputs into ``folder`` (replacing any earlier attempt); None if there are none."""
    if not spec.inputs:
        return None
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    try:
        for mount in spec.inputs:
            target = folder / mount.path
            target.parent.mkdir(parents=True, exist_ok=True)
            store.get(Cid.parse(mount.cid), target)
    except UserError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise InputsUnavailable(
            f"input {mount.path} ({mount.cid}) could not be fetched: {err.problem}",
            "the job is given back (abandoned)",
        ) from None
    _make_readable(folder)
    return folder


def _make_readable(folder: Path) -> None:
    os.chmod(folder, 0o755)
    for root, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            os.chmod(os.path.join(root, name), 0o755)
        for name in filenames:
            os.chmod(os.path.join(root, name), 0o644)


def remove_staged(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
