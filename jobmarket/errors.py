"""Errors a person can act on.

Every failure a user can cause or fix (bad input, unreachable service, reverted transaction)
is raised as a :class:`UserError`: one line saying what is wrong and what to do. CLIs print
``error: <message>`` and exit non-zero; nothing else is shown unless ``--debug`` is given.
"""


class UserError(Exception):
    """A failure explained in one line: what is wrong, then what to do about it."""

    exit_code = 1

    def __init__(self, problem: str, hint: str | None = None) -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem}; {self.hint}" if self.hint else self.problem


class InvalidInput(UserError):
    """An argument or file the user gave does not have the expected form."""

    exit_code = 2


class NotFound(UserError):
    """Something named by the user (job, CID, deployment, file) does not exist."""


class Unreachable(UserError):
    """A service we depend on (RPC, IPFS, Docker) does not answer."""

    exit_code = 3


class IntegrityError(UserError):
    """Bytes we read do not match the content address or digest they were requested by."""

    exit_code = 4
