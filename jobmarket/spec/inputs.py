"""The one pre-flight check of a job's inputs, shared by ``requester post`` and the node.

Before money is at stake — before the requester pays for a post, before a provider claims —
every block of every input is read and verified and checked by every rule staging will apply
later: structure and sizes, entry names and the length of each ``/in/<mount>/<inner>`` path
under :mod:`jobmarket.names`, at most :data:`MAX_INPUT_ENTRIES` entries, and all bytes
together within the job's ``resources.disk_mb``. What passes here stages without error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobmarket.content.cid import Cid
from jobmarket.content.reader import GetBlock, TreeTooLarge, inspect_tree
from jobmarket.errors import Unreachable, UserError
from jobmarket.spec.job import JobSpec

MiB = 1024 * 1024
#: Files, folders and links all inputs of one job may hold together (each is an inode).
MAX_INPUT_ENTRIES = 100_000


@dataclass(frozen=True)
class InputsReport:
    """What staging a spec's inputs would write, and every reason it could not."""

    total_bytes: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)


def input_allowance(spec: JobSpec) -> int:
    """Bytes a job's inputs may hold: its disk allowance (``resources.disk_mb``)."""
    return spec.resources.disk_mb * MiB


def inspect_inputs(
    get_block: GetBlock, spec: JobSpec, *, max_entries: int = MAX_INPUT_ENTRIES
) -> InputsReport:
    """Read and verify every block of every input; the problems that would stop staging.

    Raises :class:`~jobmarket.errors.Unreachable` when the store cannot be asked now (not a
    verdict on the inputs: ask again later).
    """
    allowance = input_allowance(spec)
    total = entries = 0
    problems: list[str] = []
    for mount in spec.inputs:
        where = f"input /in/{mount.path} ({mount.cid})"
        try:
            summary = inspect_tree(
                get_block,
                Cid.parse(mount.cid),
                prefix=mount.path,
                max_bytes=allowance - total,
                max_entries=max_entries - entries,
            )
        except Unreachable:
            raise
        except TreeTooLarge:
            problems.append(
                f"inputs: more than resources.disk_mb ({spec.resources.disk_mb} MiB) or "
                f"{max_entries} files and folders in all ({where} goes over)"
            )
            break  # the allowance is spent: what comes after cannot fit either
        except UserError as err:
            problems.append(f"{where}: {err.problem}")
        else:
            total += summary.total_bytes
            entries += summary.files + summary.directories + summary.symlinks
    return InputsReport(total, entries, problems)
