"""The watchdog kills a job at its deadline even while the Docker API does not answer.

The hang is injected by a relay between the executor and the real dockerd (a fault injector,
not a fake: every byte that does pass goes to the real engine). While it is frozen, no API call
of the executor returns; the job must still die on time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from jobmarket.docker_engine import DEFAULT_SOCKET
from provider_node.executor import ExecutionStatus, NodePolicy


class FreezableDockerRelay:
    """Relays a unix socket to dockerd's; ``freeze()`` stops passing bytes in both directions."""

    def __init__(self, path: Path, target: str = DEFAULT_SOCKET) -> None:
        self.path = path
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed.set()
        self.flowing.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[FreezableDockerRelay]:
    relay = FreezableDockerRelay(tmp_path / "docker-relay.sock")
    yield relay
    relay.close()


def test_timeout_kill_does_not_depend_on_the_docker_api(
    make_executor, request_for, relay: FreezableDockerRelay, docker_api, container_processes
) -> None:
    client = docker.DockerClient(base_url=f"unix://{relay.path}", version="auto", timeout=2)
    executor = make_executor(NodePolicy(api_grace_s=3.0), client=client)
    job = executor.start(request_for("while :; do :; done", timeout_s=2.0))

    relay.freeze()
    began = time.monotonic()
    state = executor.wait(job)
    waited = time.monotonic() - began
    gone_while_frozen = container_processes(job.container_id) == []
    relay.thaw()

    assert state.timed_out and not state.confirmed  # Docker could not confirm: it was frozen
    assert gone_while_frozen
    assert waited < 2.0 + 3.0 + 2.0 + 1.5  # deadline + grace + one API timeout + slack
    info = docker_api.api.inspect_container(job.container_id)["State"]
    assert info["Running"] is False and info["ExitCode"] == 137
    result = executor.collect(job)
    assert result.status == ExecutionStatus.TIMEOUT
    assert 2.0 <= result.runtime_s < 4.0  # killed on time, not when the API came back (7 s+)
