"""Hostile jobs against a real dockerd. Each ends with a clean result, leaves nothing running,
and the same executor then runs an ordinary job normally."""

from __future__ import annotations

import fcntl
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from provider_node.executor import DockerExecutor, ExecutionStatus, Limits, NodePolicy
from provider_node.executor.volume import OutputVolume

MiB = 1024 * 1024


def test_fork_bomb_is_stopped_by_the_pids_limit(
    executor: DockerExecutor, request_for, assert_still_serves, container_processes
) -> None:
    # The main shell forks once (while pids are free), then busy-loops without forking, so the
    # container lives until the watchdog's deadline while the bomb hits the pids limit.
    bomb = "bomb() { bomb | bomb & }; bomb & while :; do :; done"
    job = executor.start(request_for(bomb, pids=32, timeout_s=3.0))
    executor.wait(job)
    result = executor.collect(job)

    assert result.status == ExecutionStatus.TIMEOUT, result
    assert "can't fork" in result.stderr_tail
    assert container_processes(job.container_id) == []
    executor.remove(job)
    assert_still_serves(executor)


def test_memory_bomb_is_reported_as_oom(
    executor: DockerExecutor, request_for, assert_still_serves
) -> None:
    # dd allocates (and fills) a 256 MiB buffer in a 32 MiB container.
    result = executor.run(request_for("dd if=/dev/zero of=/dev/null bs=256M count=1", memory_mb=32))

    assert result.status == ExecutionStatus.OOM
    assert result.exit_code == 137 and result.oom_killed
    assert_still_serves(executor)


def test_endless_loop_is_killed_at_its_deadline(
    executor: DockerExecutor, request_for, assert_still_serves, container_processes
) -> None:
    job = executor.start(request_for("while :; do :; done", timeout_s=2.0))
    state = executor.wait(job)
    result = executor.collect(job)

    assert state.timed_out and state.confirmed
    assert result.status == ExecutionStatus.TIMEOUT
    assert 2.0 <= result.runtime_s < 3.5  # killed at its deadline
    assert container_processes(job.container_id) == []
    executor.remove(job)
    assert_still_serves(executor)


def test_a_gigabyte_of_output_is_capped_and_the_host_disk_spared(
    executor: DockerExecutor, request_for, work_root: Path, assert_still_serves
) -> None:
    cap = 8 * MiB
    script = (
        "echo kept > /out/a-first;"
        "dd if=/dev/zero of=/out/big bs=1M count=1024 2>/out/a-dd-error;"
        "truncate -s 100G /out/sparse 2>/out/a-truncate-error;"
        "exit 0"
    )
    job = executor.start(request_for(script, max_output_bytes=cap))
    executor.wait(job)
    image = work_root / job.key / "out.img"
    on_disk = image.stat().st_blocks * 512
    result = executor.collect(job)

    assert on_disk <= OutputVolume.capacity_for(cap)  # all the job could take from the disk
    assert result.status == ExecutionStatus.OUTPUT_LIMIT
    assert result.output_limit == f"more than {cap} bytes"
    collected = {f.path for f in result.outputs}
    assert "a-first" in collected and "big" not in collected
    assert (result.output_dir / "a-dd-error").read_text().count("No space left on device") == 1
    # A 100 GB sparse file is stopped by the fsize ulimit (SIGXFSZ), not left for the collector.
    assert "File size limit exceeded" in (result.output_dir / "a-truncate-error").read_text()
    assert result.output_bytes <= cap
    executor.remove(job)
    assert not image.exists()
    assert_still_serves(executor)


def test_symlink_to_a_host_file_is_refused_and_the_file_never_read(
    executor: DockerExecutor, request_for, tmp_path: Path, assert_still_serves
) -> None:
    secret = f"HOST-SECRET-{uuid.uuid4().hex}"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    script = (
        f"ln -s {secret_file} /out/leak; ln -s /etc/shadow /out/shadow; ln -s / /out/root;"
        f"mkdir /out/d; ln -s ../../../../../..{secret_file} /out/d/up; echo ok > /out/fine"
    )
    result = executor.run(request_for(script))

    assert result.status == ExecutionStatus.SUCCEEDED
    refused = {entry.path: entry.reason for entry in result.refused}
    assert set(refused) == {"leak", "shadow", "root", "d/up"}
    assert all(reason == "symbolic link (not followed)" for reason in refused.values())
    assert [f.path for f in result.outputs] == ["fine"]
    job_folder = result.output_dir.parent
    everything = b"".join(p.read_bytes() for p in job_folder.rglob("*") if p.is_file())
    assert secret.encode() not in everything  # outputs, logs and result.json
    assert b"root:" not in everything  # nor /etc/shadow
    assert_still_serves(executor)


def test_hardlinks_are_refused_and_cannot_reach_outside_out(
    executor: DockerExecutor, request_for, assert_still_serves
) -> None:
    script = (
        "echo data > /out/a; ln /out/a /out/b;"
        "ln /bin/busybox /out/host-binary 2>/out/cross-device-error; exit 0"
    )
    result = executor.run(request_for(script))

    refused = {entry.path: entry.reason for entry in result.refused}
    assert refused == {"a": "hard link (2 names for one file)", "b": refused["a"]}
    # /out is its own filesystem: a link to any file outside it cannot even be made.
    assert "cross-device link" in (result.output_dir / "cross-device-error").read_text()
    assert_still_serves(executor)


def test_fifo_is_refused_without_hanging_the_collector(
    executor: DockerExecutor, request_for, assert_still_serves
) -> None:
    result = executor.run(request_for("mkfifo /out/pipe; echo ok > /out/ok"))

    assert {e.path: e.reason for e in result.refused} == {"pipe": "FIFO"}
    assert [f.path for f in result.outputs] == ["ok"]
    assert_still_serves(executor)


def test_deep_directories_are_capped(
    executor: DockerExecutor, request_for, assert_still_serves
) -> None:
    script = "echo top > /out/a-top; p=/out; for i in $(seq 40); do p=$p/d; mkdir $p; done"
    result = executor.run(request_for(script, max_output_depth=8))

    assert result.status == ExecutionStatus.OUTPUT_LIMIT
    assert result.output_limit == "deeper than 8 levels"
    assert [f.path for f in result.outputs] == ["a-top"]  # partial outputs are reported
    assert_still_serves(executor)


def test_too_many_files_are_capped_by_the_filesystem_and_the_collector(
    executor: DockerExecutor, request_for, assert_still_serves
) -> None:
    # Tries to create 100000 files; the inode-limited /out stops it near the cap.
    script = (
        "i=0; while [ $i -lt 100000 ]; do echo -n > /out/f$i || break; i=$((i+1)); done;"
        "echo created=$i >&2"
    )
    result = executor.run(request_for(script, max_output_files=50))

    created = int(result.stderr_tail.rsplit("created=", 1)[1])
    assert 50 < created < 200
    assert "No space left on device" in result.stderr_tail
    assert result.status == ExecutionStatus.OUTPUT_LIMIT
    assert result.output_limit == "more than 50 entries"
    assert len(result.outputs) == 50
    assert_still_serves(executor)


def test_job_runs_as_nobody_and_can_write_only_out_and_tmp(
    executor: DockerExecutor, request_for, tmp_path: Path, assert_still_serves
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "given.txt").write_text("given\n")
    script = (
        "id -u > /out/uid; id -g > /out/gid;"
        "for target in /etc/passwd /bin/evil /in/given.txt /in/new /root-file; do"
        "  echo x 2>>/out/denied > $target && echo wrote $target >> /out/written;"
        "done;"
        "echo scratch > /tmp/t && cat /tmp/t > /out/tmp-works; exit 0"
    )
    result = executor.run(request_for(script, inputs=inputs))

    out = result.output_dir
    assert (out / "uid").read_text() == "65534\n" and (out / "gid").read_text() == "65534\n"
    assert not (out / "written").exists()
    assert (out / "denied").read_text().count("Read-only file system") == 5
    assert (out / "tmp-works").read_text() == "scratch\n"
    assert (inputs / "given.txt").read_text() == "given\n"
    assert_still_serves(executor)


def bridge_gateway(docker_api: docker.DockerClient) -> str:
    """This host's address on Docker's default bridge.

    A freshly started dockerd can report the bridge's IPAM config without ``Gateway`` (only
    ``Subnet``); the address is then read from the bridge's interface (``docker0``).
    """
    network = docker_api.api.inspect_network("bridge")
    for config in (network.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"].split("/")[0]
    options = network.get("Options") or {}
    return interface_address(options.get("com.docker.network.bridge.name", "docker0"))


def interface_address(interface: str) -> str:
    """The IPv4 address of a host interface (SIOCGIFADDR), no tools needed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("256s", interface.encode()[:15])
        reply = fcntl.ioctl(probe.fileno(), 0x8915, request)
    return socket.inet_ntoa(reply[20:24])


def test_the_bridge_address_is_found_on_its_interface(docker_api: docker.DockerClient) -> None:
    # The fallback a fresh dockerd needs gives the address Docker reports when it does.
    network = docker_api.api.inspect_network("bridge")
    interface = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    assert interface_address(interface) == bridge_gateway(docker_api)


@pytest.fixture
def bridge_listener(docker_api: docker.DockerClient) -> Iterator[tuple[str, int]]:
    """A one-shot HTTP responder on this host's Docker bridge address (never leaves the host)."""
    gateway = bridge_gateway(docker_api)
    server = socket.socket()
    server.bind((gateway, 0))
    server.listen(4)
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\npong\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield gateway, server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_network_requests_fail_inside_the_container(
    make_executor, request_for, bridge_listener: tuple[str, int]
) -> None:
    host, port = bridge_listener
    script = (
        # (no wget -T: Debian's static busybox 1.35 wget crashes with it)
        f"wget -q -O /out/got http://{host}:{port}/ 2>/out/error; echo $? > /out/rc;"
        "ls /sys/class/net > /out/interfaces"
    )
    # The job asks for the bridge, but the default policy allows no network.
    denied = make_executor().run(request_for(script, network="bridge"))
    assert (denied.output_dir / "rc").read_text() != "0\n"
    assert "Network is unreachable" in (denied.output_dir / "error").read_text()
    assert (denied.output_dir / "interfaces").read_text() == "lo\n"

    # Control: the same job on a node whose policy allows the bridge reaches the listener.
    allowing = NodePolicy(ceiling=Limits(network="bridge", timeout_s=60.0))
    allowed = make_executor(allowing).run(request_for(script, network="bridge"))
    assert (allowed.output_dir / "got").read_text() == "pong\n"


def test_a_job_killed_at_its_deadline_leaves_no_process_behind(
    executor: DockerExecutor, request_for, container_processes
) -> None:
    # Background children and a parent ignoring SIGTERM: the PID namespace dies as a whole.
    script = "trap '' TERM; for i in 1 2 3 4; do (while :; do :; done) & done; wait"
    job = executor.start(request_for(script, timeout_s=1.5))
    time.sleep(0.5)
    assert len(container_processes(job.container_id)) >= 5
    executor.wait(job)

    assert container_processes(job.container_id) == []
    assert executor.collect(job).status == ExecutionStatus.TIMEOUT
