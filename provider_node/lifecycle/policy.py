"""Whether to take a job, and the limits to run it under.

The node's published terms are its capability document (what ``register`` put on-chain):
maximum resources and timeout, price floor, accepted images, networks. The run options add
what is not published: images denied locally, and the time margins a job must leave. A job is
checked in two rounds so that nothing is spent on hopeless ones:

1. :meth:`JobPolicy.precheck` uses the terms from the JobPosted event only (price, deadlines);
2. :meth:`JobPolicy.check_spec` runs on the fetched, verified spec (resources, image,
   network, whether the run fits the work timeout).

Both return the reasons to decline; an empty answer means "take it". Stake and free capacity
change from moment to moment and are checked by the pipeline just before claiming.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from jobmarket.chain.units import ETH, Currency
from jobmarket.spec.capabilities import ProviderCapabilities
from jobmarket.spec.job import JobSpec
from provider_node.context.settings import NodeSettings
from provider_node.executor import Limits, NetworkMode, NodePolicy
from provider_node.executor.spec import MiB
from provider_node.journal.store import JobRecord

MAX_OUTPUT_FILES = 100_000
MAX_LOG_BYTES = 4 * MiB
MIN_RUN_S = 1


@dataclass(frozen=True)
class JobPolicy:
    capabilities: ProviderCapabilities
    settings: NodeSettings
    #: The market's currency: prices and the floor are both in its smallest unit.
    currency: Currency = ETH

    def precheck(self, job: JobRecord, chain_now: int) -> list[str]:
        """Reasons to decline from the on-chain terms alone (no I/O)."""
        reasons = []
        floor = self.capabilities.price_floor_wei
        if job.price < floor:
            reasons.append(
                f"price {self.currency.format(job.price)} is below this node's floor "
                f"{self.currency.format(floor)}"
            )
        if job.claim_deadline < chain_now + self.settings.claim_margin_s:
            reasons.append("the claim deadline has passed or is too close")
        if job.work_timeout < self.settings.delivery_margin_s + MIN_RUN_S:
            reasons.append(
                f"the work timeout of {job.work_timeout} s leaves no time to run and deliver "
                f"(this node keeps {self.settings.delivery_margin_s} s to deliver)"
            )
        return reasons

    def check_spec(self, spec: JobSpec, job: JobRecord) -> list[str]:
        """Reasons to decline the job described by ``spec`` (empty: take it)."""
        reasons = self.capabilities.accepts(spec, job.price, pulls=self.settings.allow_pull)
        denied = [p for p in self.settings.deny_images if fnmatch.fnmatchcase(spec.image, p)]
        if denied:
            reasons.append(f"image: {spec.image} is denied on this node ({denied[0]})")
        needed = spec.timeout_s + self.settings.delivery_margin_s
        if needed > job.work_timeout:
            reasons.append(
                f"timeout_s: {spec.timeout_s} s plus {self.settings.delivery_margin_s} s to "
                f"deliver exceeds the job's work timeout of {job.work_timeout} s"
            )
        hardware = self.capabilities.hardware
        if spec.resources.cpu > hardware.cpus or spec.resources.memory_mb > hardware.memory_mb:
            reasons.append("resources: more than this machine has")
        return reasons

    def limits(self, spec: JobSpec, seconds_left: float) -> Limits:
        """The container limits of a claimed job: the spec's, bounded by the work deadline."""
        resources = spec.resources
        until_deadline = seconds_left - self.settings.delivery_margin_s
        timeout = max(MIN_RUN_S, min(spec.timeout_s, until_deadline))
        return Limits(
            cpu=resources.cpu,
            memory_mb=resources.memory_mb,
            pids=self.settings.pids,
            timeout_s=float(math.floor(timeout)),
            network=NetworkMode(spec.network),
            tmpfs_mb=max(1, min(64, resources.memory_mb // 4)),
            max_output_bytes=resources.disk_mb * MiB,
            max_output_files=MAX_OUTPUT_FILES,
            max_log_bytes=MAX_LOG_BYTES,
        )

    def executor_policy(self) -> NodePolicy:
        """The executor's ceiling: nothing above the published maxima, whatever a bug asks."""
        maxima = self.capabilities.max_resources
        network = NetworkMode.BRIDGE if "bridge" in self.capabilities.networks else NetworkMode.NONE
        return NodePolicy(
            ceiling=Limits(
                cpu=maxima.cpu,
                memory_mb=maxima.memory_mb,
                pids=self.settings.pids,
                timeout_s=float(self.capabilities.max_timeout_s),
                network=network,
                tmpfs_mb=1024,
                max_output_bytes=maxima.disk_mb * MiB,
                max_output_files=MAX_OUTPUT_FILES,
                max_log_bytes=MAX_LOG_BYTES,
            ),
            allow_pull=self.settings.allow_pull,
        )
