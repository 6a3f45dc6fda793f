"""The machine's room for more work: job slots, CPU, memory, disk and stake promised to jobs.

A job reserves its spec's CPU and memory, and the disk its inputs and outputs may take, from
the moment the node decides to claim it until its container is gone, and its collateral until
the claim is mined (from then on the contract's ``locked`` counts it). Decisions taken in
parallel therefore never promise the same cores, memory, disk or stake twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class _Reservation:
    cpu: float
    memory_mb: int
    collateral: int
    disk_bytes: int = 0


class Capacity:
    def __init__(self, cpus: float, memory_mb: int, max_jobs: int) -> None:
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.max_jobs = max_jobs
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
    ) -> bool:
        """Reserve room for ``job_id``; False if it does not fit beside the jobs in progress.

        ``disk_bytes`` is what the job may write (inputs, outputs, margin) and ``disk_free``
        the work folder's free space now: the disk promised to the other jobs in progress
        must leave room for it. ``force`` records a job that already holds its claim
        (resumed after a restart): it is running or about to, whether or not it fits.
        """
        with self._lock:
            others = [r for key, r in self._reserved.items() if key != job_id]
            fits = (
                len(others) < self.max_jobs
                and sum(r.cpu for r in others) + cpu <= self.cpus + 1e-9
                and sum(r.memory_mb for r in others) + memory_mb <= self.memory_mb
                and (
                    disk_free is None or sum(r.disk_bytes for r in others) + disk_bytes <= disk_free
                )
            )
            if not (fits or force):
                return False
            self._reserved[job_id] = _Reservation(cpu, memory_mb, collateral, disk_bytes)
            return True

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
