"""A job's status as a person wants it: state, deadlines in human terms, who acts next, costs.

:class:`JobStatus` is a snapshot: the contract's view of the job at one block, the steps that
led there (from the job's events) and what each cost. Text rendering lives in
:mod:`requester.render`; :meth:`JobStatus.to_json` is the ``--json`` form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobmarket.chain.client import JobView
from jobmarket.chain.states import JobState
from jobmarket.chain.units import ETH, Currency, amount_json
from jobmarket.content.cid import Cid
from requester.durations import format_relative, format_time, iso_time
from requester.history import Costs, JobStep, result_cid, spec_cid
from requester.moves import Move, next_moves, waiting_on, waiting_on_short

#: What the ``deadline`` field of ``get_job`` means in each state (docs/contract-spec.md).
DEADLINE_NAMES = {
    JobState.OPEN: "claim deadline",
    JobState.CLAIMED: "work deadline",
    JobState.SUBMITTED: "end of review",
    JobState.DISPUTED: "arbiter deadline",
}


@dataclass(frozen=True)
class JobStatus:
    """One job at one block: the contract's view, its history and its costs."""

    view: JobView
    now: int
    block_number: int
    steps: tuple[JobStep, ...]
    costs: Costs
    me: str | None
    #: The job's name (from its spec) and how its run ended (from the verified result
    #: manifest), when asked for (``Job.status(outcome=True)``).
    name: str | None = None
    outcome: str | None = None
    currency: Currency = ETH

    @property
    def job_id(self) -> int:
        return self.view.job_id

    @property
    def state(self) -> JobState:
        return self.view.state

    @property
    def is_terminal(self) -> bool:
        return self.view.state.is_terminal

    @property
    def deadline_name(self) -> str | None:
        return DEADLINE_NAMES.get(self.view.state)

    @property
    def moves(self) -> list[Move]:
        return next_moves(self.view)

    @property
    def waiting_on(self) -> str:
        return waiting_on(self.view, self.now)

    @property
    def waiting_on_short(self) -> str:
        return waiting_on_short(self.view, self.now)

    @property
    def spec_cid(self) -> Cid | None:
        posted = next((s for s in self.steps if s.event == "JobPosted"), None)
        return spec_cid(posted.args["spec_digest"]) if posted else None

    @property
    def result_cid(self) -> Cid | None:
        submitted = [s for s in self.steps if s.event == "ResultSubmitted"]
        return result_cid(submitted[-1].args["result_digest"]) if submitted else None

    @property
    def posted_at(self) -> int | None:
        return self.steps[0].timestamp if self.steps else None

    def deadline_text(self) -> str | None:
        if self.deadline_name is None:
            return None
        deadline = self.view.deadline
        return f"{format_time(deadline)} ({format_relative(deadline, self.now)})"

    def to_json(self) -> dict[str, Any]:
        view = self.view
        return {
            "job_id": view.job_id,
            "state": view.state.name,
            "terminal": self.is_terminal,
            "requester": view.requester,
            "provider": view.provider,
            "designated": view.designated,
            **amount_json("price", view.price, self.currency),
            **amount_json("collateral", view.collateral, self.currency),
            "fee_bps": view.fee_bps,
            "spec_cid": str(self.spec_cid) if self.spec_cid else None,
            "result_cid": str(self.result_cid) if self.result_cid else None,
            "claim_deadline": view.claim_deadline,
            "deadline": {
                "name": self.deadline_name,
                "timestamp": view.deadline,
                "iso": iso_time(view.deadline),
                "seconds_left": view.deadline - self.now,
            }
            if self.deadline_name
            else None,
            "work_timeout_s": view.work_timeout,
            "review_window_s": view.review_window,
            "waiting_on": self.waiting_on,
            "next_moves": [
                {**move.to_json(), "open_now": move.open_at(self.now)} for move in self.moves
            ],
            "now": self.now,
            "block": self.block_number,
            "steps": [step.to_json() for step in self.steps],
            "costs": self.costs.to_json(),
            "name": self.name,
            "result_status": self.outcome,
        }


@dataclass(frozen=True)
class JobSummary:
    """A line of ``requester jobs``: a job's current view, without its history."""

    view: JobView
    posted_block: int
    spec_digest: bytes
    now: int
    name: str | None = None
    outcome: str | None = None
    currency: Currency = ETH

    @property
    def waiting_on(self) -> str:
        return waiting_on(self.view, self.now)

    def to_json(self) -> dict[str, Any]:
        view = self.view
        return {
            "job_id": view.job_id,
            "state": view.state.name,
            "terminal": view.state.is_terminal,
            **amount_json("price", view.price, self.currency),
            "provider": view.provider,
            "designated": view.designated,
            "deadline": view.deadline,
            "deadline_name": DEADLINE_NAMES.get(view.state),
            "name": self.name,
            "result_status": self.outcome,
            "waiting_on": self.waiting_on,
            "posted_block": self.posted_block,
            "spec_cid": str(spec_cid(self.spec_digest)),
        }
