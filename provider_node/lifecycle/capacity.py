"""The machine's room for more work: job slots, CPU, memory, disk, GPUs and stake promised to
jobs.

A job reserves its spec's CPU and memory, the disk its inputs and outputs may take, and
specific GPUs (by index, chosen among the free ones that match its spec), from the moment the
node decides to claim it until its container is gone, and its collateral until the claim is
mined (from then on the contract's ``locked`` counts it). Decisions taken in parallel therefore
never promise the same cores, memory, disk, GPU or stake twice. The GPUs a job holds are
journaled with it (``JobRecord.gpu_indexes``): after a restart it gets exactly those back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from jobmarket.spec.capabilities import GpuDevice, gpu_matches
from jobmarket.spec.job import Resources


@dataclass
class _Reservation:
    cpu: float
    memory_mb: int
    collateral: int
    disk_bytes: int = 0
    gpus: tuple[int, ...] = ()


class Capacity:
    def __init__(
        self,
        cpus: float,
        memory_mb: int,
        max_jobs: int,
        gpus: Sequence[GpuDevice] = (),
        gpus_unusable: str | None = None,
    ) -> None:
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.max_jobs = max_jobs
        # The GPUs containers can be given (provider_node.gpus.usable_gpus), by index.
        self.gpu_devices: dict[int, GpuDevice] = {device.index: device for device in gpus}
        # Why the machine's GPUs cannot be given to containers (None: they can, or none).
        self.gpus_unusable = gpus_unusable
        self._reserved: dict[int, _Reservation] = {}
        self._lock = threading.Lock()
        # Set when a reservation ends: jobs waiting for room deserve another look.
        self.freed = threading.Event()

    def try_reserve(
        self,
        job_id: int,
        cpu: float,
        memory_mb: int,
        collateral: int,
        *,
        disk_bytes: int = 0,
        disk_free: int | None = None,
        force: bool = False,
        gpu: Resources | None = None,
        held_gpus: Sequence[int] | None = None,
    ) -> bool:
        """Reserve room for ``job_id``; False if it does not fit beside the jobs in progress.

        ``disk_bytes`` is what the job may write (inputs, outputs, margin) and ``disk_free``
        the work folder's free space now: the disk promised to the other jobs in progress
        must leave room for it. ``gpu`` (the spec's resources) asks for ``gpu.gpu`` free GPUs
        that match it; ``held_gpus`` are the indexes a job was given before (journaled): it
        gets exactly those. ``force`` records a job that already holds its claim (resumed
        after a restart): it is running or about to, whether or not it fits.
        """
        with self._lock:
            others = [r for key, r in self._reserved.items() if key != job_id]
            if held_gpus is not None:
                gpus: tuple[int, ...] | None = tuple(held_gpus)
            else:
                gpus = self._free_matching(others, gpu)
            fits = (
                len(others) < self.max_jobs
                and sum(r.cpu for r in others) + cpu <= self.cpus + 1e-9
                and sum(r.memory_mb for r in others) + memory_mb <= self.memory_mb
                and (
                    disk_free is None or sum(r.disk_bytes for r in others) + disk_bytes <= disk_free
                )
                and gpus is not None
            )
            if not (fits or force):
                return False
            self._reserved[job_id] = _Reservation(
                cpu, memory_mb, collateral, disk_bytes, gpus or ()
            )
            return True

    def _free_matching(
        self, others: list[_Reservation], wanted: Resources | None
    ) -> tuple[int, ...] | None:
        """The lowest free GPU indexes that match ``wanted`` (None: not enough are free)."""
        if wanted is None or wanted.gpu == 0:
            return ()
        taken = {index for r in others for index in r.gpus}
        free = [
            index
            for index, device in sorted(self.gpu_devices.items())
            if index not in taken and gpu_matches(device, wanted)
        ]
        return tuple(free[: wanted.gpu]) if len(free) >= wanted.gpu else None

    def gpus_of(self, job_id: int) -> tuple[int, ...]:
        """The GPU indexes reserved for ``job_id`` (empty: none)."""
        with self._lock:
            reservation = self._reserved.get(job_id)
            return reservation.gpus if reservation else ()

    def free_gpus(self) -> int:
        """GPUs no job holds (for metrics)."""
        with self._lock:
            taken = {index for r in self._reserved.values() for index in r.gpus}
            return len(set(self.gpu_devices) - taken)

    def gpu_wait_reason(self, wanted: Resources) -> str | None:
        """Why a job asking for ``wanted`` waits for GPUs (None: enough match and are free)."""
        with self._lock:
            if self._free_matching(list(self._reserved.values()), wanted) is not None:
                return None
            matching = sum(gpu_matches(d, wanted) for d in self.gpu_devices.values())
        return f"waiting for a free GPU: the {matching} that match are in use"

    def claimed(self, job_id: int) -> None:
        """The claim is mined: the contract now holds the collateral as ``locked``."""
        with self._lock:
            if job_id in self._reserved:
                self._reserved[job_id].collateral = 0

    def free_slots(self) -> int:
        with self._lock:
            return max(0, self.max_jobs - len(self._reserved))

    def release(self, job_id: int, *, notify: bool = True) -> None:
        """End ``job_id``'s reservation; ``notify`` tells jobs waiting for room to look again."""
        with self._lock:
            if self._reserved.pop(job_id, None) is not None and notify:
                self.freed.set()

    def pending_collateral(self, excluding: int | None = None) -> int:
        """Collateral of claims decided but not mined yet (not in the contract's ``locked``)."""
        with self._lock:
            return sum(r.collateral for key, r in self._reserved.items() if key != excluding)
