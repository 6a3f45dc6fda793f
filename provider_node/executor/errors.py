"""Failures of the executor that the node acts on differently, each a one-line UserError."""

from jobmarket.errors import InvalidInput, NotFound, UserError


class ExecutorError(UserError):
    """The executor could not do what was asked; the job's container is left as it was."""


class InvalidRequest(InvalidInput):
    """An execution request or limit is malformed (bad key, negative limit, missing inputs)."""


class ImageNotAvailable(NotFound):
    """The job's image is not on this node and the policy forbids pulling: abandon the job."""


class ContainerConflict(ExecutorError):
    """A container with the job's name exists but belongs to another node or is unusable."""


class NotStopped(ExecutorError):
    """Outputs were asked for while the job's container is still running."""


class OutputVolumeError(ExecutorError):
    """The size-limited /out filesystem could not be created or mounted."""
