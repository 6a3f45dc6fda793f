"""`python -m jobmarket.docker_engine`: reuse the engine, build the job image, explain failures.

Starting dockerd from nothing cannot be repeated inside a test session that already uses it;
that path runs on every fresh machine through `make docker-engine` (and the session fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from jobmarket.docker_engine import DEFAULT_HOST, ensure_engine, ensure_image

ROOT = Path(__file__).resolve().parents[2]
SITE_PACKAGES = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
APPLETS = "sh echo cat sha256sum ls sleep head dd wc yes wget nc mkdir ln id tr cut seq mkfifo"


def engine_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobmarket.docker_engine", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_ensure_reuses_the_running_engine(docker_api: docker.DockerClient) -> None:
    status = ensure_engine()
    assert status.started_pid is None and not status.installed
    assert status.version == docker_api.version()["Version"]

    done = engine_cli("ensure")

    assert done.returncode == 0, done.stderr
    expected = f"Docker {status.version} (API {status.api_version}) is reachable at {DEFAULT_HOST}"
    assert done.stdout == expected + "\n"


def test_build_image_is_idempotent_and_has_the_applets_jobs_use(
    docker_api: docker.DockerClient,
) -> None:
    name = f"jobmarket/busybox-test:{uuid.uuid4().hex[:8]}"
    try:
        built = engine_cli("build-image", name)
        assert built.returncode == 0, built.stderr
        image_id = docker_api.images.get(name).id
        assert built.stdout == f"image {name} is {image_id}\n"
        assert ensure_image(name, docker_api) == image_id  # present: not built again

        script = f"for a in {APPLETS}; do command -v $a >/dev/null || echo missing $a; done"
        output = docker_api.containers.run(
            name, ["sh", "-c", script], remove=True, network_mode="none"
        )
        assert output == b""
    finally:
        docker_api.images.remove(name, force=True)


def test_an_unreachable_docker_host_is_one_clear_line() -> None:
    done = engine_cli("ensure", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})

    assert done.returncode == 3
    assert done.stderr == (
        "error: Docker is not reachable at unix:///nonexistent/docker.sock (from DOCKER_HOST); "
        "start that engine, or unset DOCKER_HOST to use the default socket\n"
    )


def _interpreter_for_nobody() -> str | None:
    """A Python 3.11 that uid 65534 can execute (the venv's may live under /root)."""
    for candidate in (sys.executable, "/usr/bin/python3.11"):
        probe = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", candidate, "-c", ""],
            capture_output=True,
        )
        if probe.returncode == 0:
            return candidate
    return None


def test_without_root_an_unreachable_engine_says_what_to_do() -> None:
    python = _interpreter_for_nobody()
    if python is None:
        pytest.fail("no Python interpreter that uid 65534 may execute")
    # As nobody the default socket (root:docker 0660) refuses us, like a machine without Docker.
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         python, "-m", "jobmarket.docker_engine", "ensure"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": "/tmp", "PYTHONPATH": f"{ROOT}:{SITE_PACKAGES}"},
        timeout=60,
    )  # fmt: skip

    assert done.returncode == 3
    assert done.stderr == (
        "error: Docker is not reachable at unix:///var/run/docker.sock; start Docker "
        "(systemctl start docker) or run as root so `make` can start it\n"
    )
