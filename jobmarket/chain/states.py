"""Job states as the contract stores them (``JobMarket.get_job(id).state``)."""

from enum import IntEnum


class JobState(IntEnum):
    """Mirror of the state constants in ``contracts/JobMarket.vy``; values are on-chain values."""

    NONEXISTENT = 0
    OPEN = 1
    CLAIMED = 2
    SUBMITTED = 3
    DISPUTED = 4
    ACCEPTED = 5
    RESOLVED = 6
    CANCELED = 7
    EXPIRED = 8

    @property
    def is_terminal(self) -> bool:
        """A terminal job has settled: its escrow is paid out and no function accepts it."""
        return self >= JobState.ACCEPTED


TERMINAL_STATES = frozenset(state for state in JobState if state.is_terminal)
