"""Who may act on a job next, and when: the contract's transition table, read for people.

:func:`next_moves` lists the moves the contract allows from a job's current state (from
``get_job`` and the deadlines), and :func:`check_action` refuses an action
*before* anything is signed, saying the state and who may act when. Deadlines are inclusive:
"until T" allows ``timestamp <= T``, "after T" needs ``timestamp > T`` (docs/contract-spec.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from jobmarket.chain.client import JobView
from jobmarket.chain.states import JobState
from requester.durations import format_relative, format_time
from requester.errors import ActionNotAllowed


class Action(StrEnum):
    """The transactions these tools send on a posted job: the requester's, anyone's (after a
    deadline) and the arbiter's."""

    CANCEL = "cancel"
    ACCEPT = "accept"
    DISPUTE = "dispute"
    RECLAIM = "reclaim"
    FINALIZE = "finalize"
    CLOSE_DISPUTE = "close_dispute"
    RESOLVE = "resolve"


#: Who may send each action: the job's requester, the market's arbiter, or anyone.
_REQUESTER_ONLY = {Action.CANCEL, Action.ACCEPT, Action.DISPUTE}
#: The state each action needs, and whether it needs the state's deadline passed (True), not
#: passed (False) or either (None). Checked against the contract's table by
#: tests/contract/test_contract_requester_moves.py.
_RULES: dict[Action, tuple[JobState, ...]] = {
    Action.CANCEL: (JobState.OPEN,),
    Action.ACCEPT: (JobState.SUBMITTED,),
    Action.DISPUTE: (JobState.SUBMITTED,),
    Action.RECLAIM: (JobState.OPEN, JobState.CLAIMED),
    Action.FINALIZE: (JobState.SUBMITTED,),
    Action.CLOSE_DISPUTE: (JobState.DISPUTED,),
    Action.RESOLVE: (JobState.DISPUTED,),
}
_AFTER_DEADLINE = {Action.RECLAIM, Action.FINALIZE, Action.CLOSE_DISPUTE}
_BEFORE_DEADLINE = {Action.DISPUTE, Action.RESOLVE}


#: The contract's function names as a person says them ("may submit a result").
FUNCTION_WORDS = {
    "claim": "claim it",
    "cancel": "cancel it",
    "reclaim": "reclaim it",
    "submit_result": "submit a result",
    "abandon": "abandon it",
    "accept": "accept the result",
    "dispute": "dispute the result",
    "finalize": "finalize it",
    "resolve": "resolve the dispute",
    "close_dispute": "close the dispute",
}


def in_words(function: str) -> str:
    """``submit_result`` → ``submit a result`` (unknown names pass through with spaces)."""
    return FUNCTION_WORDS.get(function, function.replace("_", " "))


@dataclass(frozen=True)
class Move:
    """One thing the contract allows next: ``actor`` may call ``function`` within a window."""

    actor: str
    function: str
    effect: str
    # Unix time the window opens (after a deadline) or closes (until a deadline); None: any time.
    until: int | None = None
    after: int | None = None

    # For a move without a deadline of its own: the deadline that can end it (anyone may
    # finalize a submitted job after its review window, so "accept" is not "any time").
    until_other: int | None = None

    def window(self, now: int) -> str:
        if self.until is not None:
            return f"until {format_time(self.until)} ({format_relative(self.until, now)})"
        if self.after is not None:
            return f"after {format_time(self.after)} ({format_relative(self.after + 1, now)})"
        if self.until_other is not None and now <= self.until_other:
            return (
                f"until {format_time(self.until_other)} ({format_relative(self.until_other, now)})"
            )
        if self.until_other is not None:
            return "until someone finalizes it"
        return "any time"

    def short_window(self) -> str:
        """The window as a clock time only (``until 22:02:05 UTC``): stable from tick to tick."""
        for word, when in (
            ("until", self.until),
            ("after", self.after),
            ("until", self.until_other),
        ):
            if when is not None:
                return f"{word} {clock_time(when)}"
        return "any time"

    def open_at(self, now: int) -> bool:
        """Whether the move is allowed in a block with timestamp ``now``."""
        if self.until is not None and now > self.until:
            return False
        return not (self.after is not None and now <= self.after)

    def describe(self, now: int) -> str:
        return f"{self.actor} may {in_words(self.function)} {self.window(now)}: {self.effect}"

    def to_json(self) -> dict:
        return {
            "actor": self.actor,
            "function": self.function,
            "effect": self.effect,
            "until": self.until,
            "after": self.after,
        }


def _claimer(view: JobView) -> str:
    if view.designated:
        return f"the designated provider {view.designated}"
    return "any registered provider"


def next_moves(view: JobView) -> list[Move]:
    """Every move the contract allows from ``view``'s state, earliest first."""
    state, deadline = view.state, view.deadline
    if state is JobState.OPEN:
        return [
            Move(_claimer(view), "claim", "starts the work", until=deadline),
            Move("the requester", "cancel", "refunds the price"),
            Move("anyone", "reclaim", "expires it and refunds the price", after=deadline),
        ]
    if state is JobState.CLAIMED:
        provider = f"the provider {view.provider}"
        return [
            Move(provider, "submit_result", "starts the review", until=deadline),
            Move(provider, "abandon", "reopens it or refunds the price", until=deadline),
            Move(
                "anyone",
                "reclaim",
                "refunds the price plus the provider's collateral",
                after=deadline,
            ),
        ]
    if state is JobState.SUBMITTED:
        return [
            Move("the requester", "accept", "pays the provider", until_other=deadline),
            Move("the requester", "dispute", "asks the arbiter to settle", until=deadline),
            Move("anyone", "finalize", "pays the provider", after=deadline),
        ]
    if state is JobState.DISPUTED:
        return [
            Move("the arbiter", "resolve", "splits the price as it decides", until=deadline),
            Move("anyone", "close_dispute", "splits the price 50/50", after=deadline),
        ]
    return []


def waiting_on(view: JobView, now: int) -> str:
    """One phrase for who the job waits on right now ("the provider to submit", "nobody")."""
    if view.state.is_terminal:
        return "nobody: the job is settled"
    open_moves = [move for move in next_moves(view) if move.open_at(now)]
    first = open_moves[0] if open_moves else next_moves(view)[0]
    return f"{first.actor} to {in_words(first.function)} {first.window(now)}"


def clock_time(timestamp: int) -> str:
    """``22:02:05 UTC``: a time of day for a line that has no room for the date."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S UTC")


def _short_actor(actor: str) -> str:
    """``the provider 0x7099…79C8``: addresses shortened for a one-line display."""
    words = actor.split()
    if words and words[-1].startswith("0x") and len(words[-1]) == 42:
        words[-1] = f"{words[-1][:6]}…{words[-1][-4:]}"
    return " ".join(words)


def waiting_on_short(view: JobView, now: int) -> str:
    """:func:`waiting_on` for a status line: short addresses, a clock time, no countdown."""
    if view.state.is_terminal:
        return "nobody (settled)"
    open_moves = [move for move in next_moves(view) if move.open_at(now)]
    first = open_moves[0] if open_moves else next_moves(view)[0]
    return f"{_short_actor(first.actor)} to {in_words(first.function)} {first.short_window()}"


def check_action(
    action: Action, view: JobView, me: str, now: int, *, arbiter: str | None = None
) -> None:
    """Raise ActionNotAllowed unless ``me`` may do ``action`` on ``view`` at time ``now``."""
    name = f"job {view.job_id}"
    if action in _REQUESTER_ONLY and view.requester != me:
        raise ActionNotAllowed(
            f"cannot {action} {name}: it was posted by {view.requester}, not by {me}",
            "use the account that posted it (--account)",
        )
    if action is Action.RESOLVE and arbiter is not None and me != arbiter:
        raise ActionNotAllowed(
            f"cannot resolve {name}: only the market's arbiter {arbiter} may, not {me}",
            "use the arbiter's account (--account); anyone may close the dispute 50/50 once "
            "the arbiter's deadline has passed",
        )
    if view.state not in _RULES[action]:
        raise ActionNotAllowed(
            f"cannot {action} {name}: it is {view.state.name}", _what_now(view, now)
        )
    when = f"{format_time(view.deadline)} ({format_relative(view.deadline, now)})"
    if action in _BEFORE_DEADLINE and now > view.deadline:
        if action is Action.DISPUTE:
            raise ActionNotAllowed(
                f"cannot dispute {name}: its review window closed "
                f"{format_relative(view.deadline, now)} ({format_time(view.deadline)})",
                "anyone may now finalize it, which pays the provider",
            )
        raise ActionNotAllowed(
            f"cannot resolve {name}: the arbiter's deadline passed {when}",
            f"anyone may now close the dispute 50/50 (`requester close-dispute {view.job_id}`)",
        )
    if action in _AFTER_DEADLINE and now <= view.deadline:
        if action is Action.RECLAIM:
            which = "claim" if view.state is JobState.OPEN else "work"
            instead = (
                "cancel it instead to get the price back now"
                if view.state is JobState.OPEN
                else f"the provider {view.provider} may still submit until then"
            )
            raise ActionNotAllowed(
                f"cannot reclaim {name} yet: it is {view.state.name} and its {which} deadline is "
                f"{when}",
                f"reclaim after that; {instead}",
            )
        window = "review window" if action is Action.FINALIZE else "arbiter's deadline"
        raise ActionNotAllowed(
            f"cannot {in_words(action)} ({name}) yet: its {window} ends {when}",
            _what_now(view, now),
        )


def _what_now(view: JobView, now: int) -> str:
    moves = next_moves(view)
    if not moves:
        return "it is settled; nothing more can happen to it"
    upcoming = [
        move
        for move in moves
        if move.open_at(now) or (move.after is not None and now <= move.after)
    ]
    return "; ".join(move.describe(now) for move in upcoming)
