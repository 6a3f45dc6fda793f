"""Requests and limits: what the node may hand the executor, and how the policy caps it."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider_node.executor import ExecutionRequest, InvalidRequest, Limits, NetworkMode
from provider_node.executor.result import ExecutionStatus, decide_status


def test_limits_are_clamped_to_the_policy_ceiling() -> None:
    asked = Limits(cpu=8, memory_mb=1 << 16, pids=10_000, timeout_s=1e6, network="bridge")
    ceiling = Limits(cpu=1, memory_mb=256, pids=64, timeout_s=60, network="none")

    applied = asked.clamped_to(ceiling)

    assert (applied.cpu, applied.memory_mb, applied.pids, applied.timeout_s) == (1, 256, 64, 60)
    assert applied.network == NetworkMode.NONE
    small = Limits(memory_mb=32, network="bridge")
    assert small.clamped_to(Limits(network="bridge")) == small  # lower asks stay as they are


@pytest.mark.parametrize(
    "limits", [{"memory_mb": 0}, {"pids": -1}, {"timeout_s": 0}, {"cpu": True}, {"tmpfs_mb": "1"}]
)
def test_nonsense_limits_are_refused(limits: dict) -> None:
    with pytest.raises(InvalidRequest, match="is invalid"):
        Limits(**limits)


@pytest.mark.parametrize("key", ["", "../etc", "a/b", "-leading-dash", "x" * 101, "sp ace"])
def test_job_keys_that_cannot_name_a_container_are_refused(key: str) -> None:
    with pytest.raises(InvalidRequest, match="job key"):
        ExecutionRequest(key=key, image="img", argv=("true",))


def test_requests_check_env_names_and_the_inputs_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="environment variable"):
        ExecutionRequest(key="k", image="img", argv=(), env={"A=B": "x"})
    with pytest.raises(InvalidRequest, match="does not exist"):
        ExecutionRequest(key="k", image="img", argv=(), inputs=tmp_path / "missing")
    ok = ExecutionRequest(key="k", image="img", argv=["echo"], inputs=tmp_path)
    assert ok.argv == ("echo",) and ok.inputs == tmp_path.resolve()


def test_the_cause_that_ended_a_run_decides_its_status() -> None:
    def status(**facts) -> ExecutionStatus:
        base = dict(exit_code=0, oom_killed=False, timed_out=False, output_limit=False, error=None)
        return decide_status(**{**base, **facts})

    assert status() == ExecutionStatus.SUCCEEDED
    assert status(exit_code=3) == ExecutionStatus.FAILED
    assert status(exit_code=137, oom_killed=True) == ExecutionStatus.OOM
    assert status(exit_code=0, oom_killed=True) == ExecutionStatus.SUCCEEDED  # it coped
    assert status(exit_code=137, timed_out=True, output_limit=True) == ExecutionStatus.TIMEOUT
    assert status(exit_code=1, output_limit=True) == ExecutionStatus.OUTPUT_LIMIT
    assert status(exit_code=None, error="dead") == ExecutionStatus.ERROR
