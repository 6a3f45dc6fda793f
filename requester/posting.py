"""What a post needs before it is paid for: a valid spec with its inputs stored, and terms.

A spec comes from a file (``--spec job.json``) or from an image, a command and inputs; local
files and folders are added to the content store (pinned) and mounted at ``/in/<name>``, and
inputs given by CID must already be in the store, since that is where providers fetch them;
every input is then checked exactly as a provider checks it before claiming.
:class:`JobTerms` holds the money and the deadlines and checks them against the contract's
limits and against the spec (a work timeout shorter than the job's run time cannot be met).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobmarket.chain.client import ZERO_ADDRESS, MarketClient
from jobmarket.chain.units import ETH, Currency, amount_json
from jobmarket.content.cid import Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import InvalidInput, NotFound
from jobmarket.sizes import parse_size
from jobmarket.spec.inputs import MiB, inspect_inputs
from jobmarket.spec.job import JobSpec
from requester.durations import format_duration, parse_duration
from requester.inputs import NamedCid, NamedPath, parse_address, parse_price

#: The contract stores durations in 24 bits and the claim deadline in 32 bits.
MAX_DURATION_S = 2**24 - 1
MAX_TIMESTAMP = 2**32 - 1

DEFAULT_CLAIM_WITHIN = "10m"
DEFAULT_REVIEW_WINDOW = "1h"
#: Time a provider needs besides running the job: fetch inputs, pin and submit the result.
WORK_MARGIN_S = 600


@dataclass(frozen=True)
class JobTerms:
    """Price (in the market's smallest unit: wei, or token units) and the three on-chain
    windows (seconds), plus an optional provider."""

    price: int
    claim_within: int
    work_timeout: int
    review_window: int
    designated: str | None = None
    currency: Currency = ETH

    @classmethod
    def parse(
        cls,
        *,
        price: str | int,
        spec: JobSpec,
        claim_within: str | int | None = None,
        work_timeout: str | int | None = None,
        review_window: str | int | None = None,
        designated: str | None = None,
        currency: Currency = ETH,
    ) -> JobTerms:
        """Terms from user text; the work timeout defaults to the job's run time plus a margin.

        Only a missing value (None) takes the default: a zero or empty one is refused.
        """
        terms = cls(
            price=parse_price(price, currency),
            claim_within=parse_duration(
                DEFAULT_CLAIM_WITHIN if claim_within is None else claim_within,
                what="claim window (--claim-within)",
            ),
            work_timeout=(
                spec.timeout_s + WORK_MARGIN_S
                if work_timeout is None
                else parse_duration(work_timeout, what="work timeout (--work-timeout)")
            ),
            review_window=parse_duration(
                DEFAULT_REVIEW_WINDOW if review_window is None else review_window,
                what="review window (--review-window)",
            ),
            designated=parse_address(designated, what="provider address") if designated else None,
            currency=currency,
        )
        terms.check(spec)
        return terms

    def check(self, spec: JobSpec) -> None:
        for name, seconds in (
            ("work timeout", self.work_timeout),
            ("review window", self.review_window),
            ("claim window", self.claim_within),
        ):
            if seconds > MAX_DURATION_S:
                raise InvalidInput(
                    f"the {name} {format_duration(seconds)} is longer than the contract allows",
                    f"give at most {format_duration(MAX_DURATION_S)}",
                )
        if self.work_timeout < spec.timeout_s:
            raise InvalidInput(
                f"the work timeout {format_duration(self.work_timeout)} is shorter than the job's "
                f"run-time limit {format_duration(spec.timeout_s)} (timeout_s): "
                "no provider could finish in time",
                f"give --work-timeout {format_duration(spec.timeout_s + WORK_MARGIN_S)} or more",
            )

    def claim_deadline(self, now: int) -> int:
        deadline = now + self.claim_within
        if deadline > MAX_TIMESTAMP:  # pragma: no cover - MAX_DURATION_S keeps it far away
            raise InvalidInput("the claim deadline is too far away", "give a shorter claim window")
        return deadline

    def post_call(
        self,
        client: MarketClient,
        digest: bytes,
        claim_deadline: int,
        permit: tuple[int, int, bytes, bytes] | None = None,
    ) -> tuple[str, tuple[Any, ...], int]:
        """``(function, args, value)`` that posts the spec ``digest`` on these terms."""
        return client.post_call(
            digest,
            self.designated or ZERO_ADDRESS,
            claim_deadline,
            self.work_timeout,
            self.review_window,
            self.price,
            permit,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **amount_json("price", self.price, self.currency),
            "claim_within_s": self.claim_within,
            "work_timeout_s": self.work_timeout,
            "review_window_s": self.review_window,
            "designated": self.designated,
        }


def split_command(command: str | Sequence[str]) -> list[str]:
    """argv from ``"sh -c 'echo hi'"`` (shell-style quoting, no shell) or an argv list."""
    if not isinstance(command, str):
        return [str(part) for part in command]
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise InvalidInput(
            f"cannot split the command {command!r}: {err}", "check the quotes"
        ) from None
    if not argv:
        raise InvalidInput("the command is empty", "give e.g. --cmd 'sh -c \"echo hi > /out/x\"'")
    return argv


def spec_from_parts(
    *,
    image: str,
    command: str | Sequence[str],
    env: dict[str, str] | None = None,
    timeout: str | int | None = None,
    cpu: float | None = None,
    memory_mb: int | None = None,
    outputs: Sequence[str] = (),
    name: str | None = None,
    gpu: int | None = None,
    gpu_memory: str | int | None = None,
    gpu_models: Sequence[str] = (),
) -> dict[str, Any]:
    """A job spec document (not yet validated, no inputs) from the pieces of a command line;
    ``gpu_memory`` is a size (``24GiB``, or bytes), the least memory of each GPU."""
    document: dict[str, Any] = {"image": image, "command": split_command(command)}
    if env:
        document["env"] = dict(env)
    if timeout is not None:
        document["timeout_s"] = parse_duration(timeout, what="job timeout (--timeout)")
    resources = {
        key: value for key, value in (("cpu", cpu), ("memory_mb", memory_mb)) if value is not None
    }
    resources.update(gpu_resources(gpu, gpu_memory, gpu_models))
    if resources:
        document["resources"] = resources
    if outputs:
        document["outputs"] = list(outputs)
    if name:
        document["name"] = name
    return document


def gpu_resources(
    gpu: int | None, gpu_memory: str | int | None, gpu_models: Sequence[str] = ()
) -> dict[str, Any]:
    """The spec's GPU resources from ``--gpu``, ``--gpu-memory`` and ``--gpu-model``; the
    memory is rounded up to whole MiB (a GPU must have at least what was asked)."""
    resources: dict[str, Any] = {}
    if gpu is not None:
        resources["gpu"] = gpu
    if gpu_memory is not None:
        size = parse_size(gpu_memory, what="GPU memory (--gpu-memory)")
        resources["gpu_memory_mb"] = -(-size // MiB)
    if gpu_models:
        resources["gpu_models"] = list(gpu_models)
    return resources


def with_inputs(
    base: JobSpec | dict[str, Any],
    store: ContentStore,
    paths: Sequence[NamedPath] = (),
    cids: Sequence[NamedCid] = (),
) -> JobSpec:
    """The spec with ``paths`` added to the store and every input checked to be in the store."""
    document = (
        base.model_dump(mode="json", exclude_none=True) if isinstance(base, JobSpec) else base
    )
    mounts = list(document.get("inputs", []))
    taken = {mount["path"] for mount in mounts}
    for named in [*cids, *paths]:
        if named.name in taken:
            raise InvalidInput(
                f"two inputs are mounted at /in/{named.name}", "give one a name with NAME=PATH"
            )
        taken.add(named.name)
    # Validate everything except the inputs before uploading anything.
    JobSpec.parse({**document, "inputs": mounts}, "job spec")
    for named in cids:
        mounts.append({"cid": str(named.cid), "path": named.name})
    for mount in mounts:
        require_available(store, Cid.parse(mount["cid"]), mount["path"])
    for named in paths:
        cid = store.add_path(named.path, pin=True)
        mounts.append({"cid": str(cid), "path": named.name})
    spec = JobSpec.parse({**document, "inputs": mounts}, "job spec")
    require_stageable(store, spec)
    return spec


def require_stageable(store: ContentStore, spec: JobSpec) -> None:
    """Refuse to pay for a job every provider would decline: the node's own input check
    (:func:`~jobmarket.spec.inputs.inspect_inputs`), run here on the same store."""
    report = inspect_inputs(store.get_block, spec)
    if report.problems:
        raise InvalidInput(
            "; ".join(report.problems)[:600],
            "fix the input (or raise resources.disk_mb in a --spec file); no provider would "
            "take this job",
        )


def require_available(store: ContentStore, cid: Cid, name: str) -> None:
    """Providers fetch inputs from the store: refuse to pay for a job whose input is missing."""
    if not store.has(cid):
        raise NotFound(
            f"input /in/{name} ({cid}) is not in the content store at {store.location}",
            "add it first (`requester store add PATH`) or pass the file with --input",
        )
