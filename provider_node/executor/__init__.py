"""Run untrusted jobs in hardened Docker containers and hand back their outputs and logs.

The node builds an :class:`ExecutionRequest`, calls :meth:`DockerExecutor.run` (or the steps
``start`` / ``wait`` / ``collect`` / ``remove`` to journal between them) and publishes the
:class:`ExecutionResult`'s ``output_dir``. See ``docker_executor`` for the state machine,
``profile`` for the hardening, ``volume`` for the size-limited /out and ``collector`` for how
outputs are read without following links.
"""

from provider_node.executor.docker_executor import DockerExecutor, ExitState, JobContainer, Phase
from provider_node.executor.errors import (
    ContainerConflict,
    ExecutorError,
    ImageNotAvailable,
    InvalidRequest,
    NotStopped,
    OutputVolumeError,
)
from provider_node.executor.result import (
    ExecutionResult,
    ExecutionStatus,
    OutputFile,
    RefusedEntry,
)
from provider_node.executor.spec import ExecutionRequest, Limits, NetworkMode, NodePolicy

__all__ = [
    "ContainerConflict",
    "DockerExecutor",
    "ExecutionRequest",
    "ExecutionResult",
    "ExecutionStatus",
    "ExecutorError",
    "ExitState",
    "ImageNotAvailable",
    "InvalidRequest",
    "JobContainer",
    "Limits",
    "NetworkMode",
    "NodePolicy",
    "NotStopped",
    "OutputFile",
    "OutputVolumeError",
    "Phase",
    "RefusedEntry",
]
