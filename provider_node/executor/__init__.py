"""Run untrusted jobs in hardened Docker containers and hand back their outputs and logs.

The node builds an :class:`ExecutionRequest`, calls :meth:`DockerExecutor.run` (or the steps
``start`` / ``wait`` / ``collect`` / ``remove`` to journal between them) and publishes the
:class:`ExecutionResult`'s ``output_dir``. See ``docker_executor`` for the state machine,
``profile`` for the hardening, ``volume`` for the size-limited /out and ``collector`` for how
outputs are read without following links.
"""

import importlib
from typing import Any

# Imported on first use: the job's supervisor (a short-lived process per job) imports a few
# light modules of this package and must not pay for docker-py and pydantic.
_HOMES = {
    "DockerExecutor": "docker_executor",
    "ExitState": "docker_executor",
    "JobContainer": "docker_executor",
    "Phase": "docker_executor",
    "ContainerConflict": "errors",
    "ExecutorError": "errors",
    "ImageNotAvailable": "errors",
    "InvalidRequest": "errors",
    "NotStopped": "errors",
    "OutputVolumeError": "errors",
    "ExecutionResult": "result",
    "ExecutionStatus": "result",
    "OutputFile": "result",
    "RefusedEntry": "result",
    "ExecutionRequest": "spec",
    "GpuAssignment": "spec",
    "Limits": "spec",
    "NetworkMode": "spec",
    "NodePolicy": "spec",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ContainerConflict",
    "DockerExecutor",
    "ExecutionRequest",
    "ExecutionResult",
    "ExecutionStatus",
    "ExecutorError",
    "ExitState",
    "GpuAssignment",
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
