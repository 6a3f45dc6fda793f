"""A job's supervisor: its two output streams and its wall-clock deadline, in its own process.

The node's watchdog lives in the node: while the node is down (``kill -9``, a crash, an
upgrade) nothing would stop a job at its deadline, and Docker's json-file log driver mixes and
loses the job's streams. So the executor starts one small supervisor per job
(:func:`spawn`), in a new session, which outlives the node and:

1. takes the job's ``supervisor.lock`` (one supervisor per job; the executor asks the lock
   whether one runs, and ``collect`` waits for it to be released);
2. attaches to the container's stdout and stderr *before* the container starts, so nothing is
   missed, and writes ``supervisor.json`` (the executor starts the container only then);
3. once the container runs, kills it at ``StartedAt + timeout_s`` — Docker's clock, the same
   deadline as the node's watchdog — through a pidfd on its init (API fallback), recording
   ``timeout.json`` first;
4. drains both streams, each into its own capped file (:class:`~.logs.TailFile`), and writes
   ``logs/capture.json`` last, then exits.

A supervisor started for a container that already runs (its first supervisor died) keeps what
was captured, enforces the deadline, and marks the capture incomplete.

Run as ``python -m provider_node.executor.supervisor JOB_FOLDER CONTAINER_ID``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import provider_node
from jobmarket.fileio import write_atomically
from provider_node.executor.jobdir import JobDir
from provider_node.executor.logs import CAPTURE_NAME, TailFile, write_capture

log = logging.getLogger(__name__)

_STREAM_NAMES = {1: "stdout", 2: "stderr"}
_POLL_S = 0.2
_DRAIN_S = 30.0  # after the container stopped, time for dockerd to deliver the last bytes


# -- the executor's side ------------------------------------------------------------------------


def spawn(jobdir: JobDir, container_id: str) -> subprocess.Popen[bytes]:
    """Start the job's supervisor in a session of its own (it survives the node's death)."""
    jobdir.supervisor_marker.unlink(missing_ok=True)
    package_root = str(Path(provider_node.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with open(jobdir.supervisor_errors, "ab") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "provider_node.executor.supervisor", str(jobdir.root),
             container_id],
            stdin=subprocess.DEVNULL,
            stdout=errors,
            stderr=errors,
            cwd=jobdir.root,
            env=env,
            start_new_session=True,
            close_fds=True,
        )  # fmt: skip
    # Reap it when it ends (while this process lives); after our death init does.
    threading.Thread(target=process.wait, name="supervisor-reaper", daemon=True).start()
    return process


def is_running(jobdir: JobDir) -> bool:
    """Whether a supervisor holds the job's lock now."""
    return not _try_lock(jobdir, fcntl.LOCK_SH)


def wait_until_attached(
    jobdir: JobDir, container_id: str, timeout: float, process: subprocess.Popen | None = None
) -> bool:
    """True once the supervisor is attached to ``container_id``'s streams."""
    latest = time.monotonic() + timeout
    while time.monotonic() < latest:
        try:
            marker = json.loads(jobdir.supervisor_marker.read_text())
            if marker.get("container") == container_id:
                return True
        except (OSError, ValueError):
            pass
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def wait_until_done(jobdir: JobDir, timeout: float) -> bool:
    """True once no supervisor runs for the job (its logs are then final)."""
    latest = time.monotonic() + timeout
    while not _try_lock(jobdir, fcntl.LOCK_SH):
        if time.monotonic() >= latest:
            return False
        time.sleep(0.02)
    return True


def _try_lock(jobdir: JobDir, mode: int) -> bool:
    """Take and release the lock at once: False if a supervisor holds it."""
    try:
        fd = os.open(jobdir.supervisor_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:  # the job folder is gone: nothing runs for it
        return True
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


# -- the supervisor process ---------------------------------------------------------------------


def supervise(jobdir: JobDir, container_id: str) -> int:
    """The supervisor's whole life; returns its exit status."""
    lock = os.open(jobdir.supervisor_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another supervisor has this job
    # Imported here: the executor imports this module for spawn() and must not pay for these.
    from jobmarket.docker_engine import docker_client
    from provider_node.executor.docker_executor import JobContainer, parse_docker_time
    from provider_node.executor.watchdog import ProcessWatch

    client = docker_client()
    attrs = client.api.inspect_container(container_id)
    job = JobContainer.from_attrs(attrs)
    fresh = attrs["State"]["Status"] == "created"
    capture = jobdir.logs / CAPTURE_NAME
    if fresh:
        capture.unlink(missing_ok=True)
    elif not job.running or capture.exists():
        return 0  # it ran to its end under a supervisor, or ended while none watched
    jobdir.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = {
        number: TailFile(jobdir.logs / f"{name}.log", job.limits.max_log_bytes, keep=not fresh)
        for number, name in _STREAM_NAMES.items()
    }
    sock = client.api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(None)  # a job may stay silent for hours
    write_atomically(
        jobdir.supervisor_marker, json.dumps({"pid": os.getpid(), "container": container_id})
    )
    pump = _Pump(raw, files)
    pump.start()

    started_at = pid = None
    while started_at is None:  # the executor starts the container once we are attached
        state = _state(client, container_id)
        if state is None or (state["Status"] != "created" and not state.get("Running")):
            break  # removed, or already over
        if state.get("Running"):
            started_at, pid = parse_docker_time(state.get("StartedAt")), int(state.get("Pid") or 0)
        else:
            time.sleep(_POLL_S)
    if started_at is not None:
        deadline = started_at.timestamp() + job.limits.timeout_s
        watch = ProcessWatch.attach(pid or 0, container_id)
        if not _ends_before(deadline, watch, client, container_id):
            jobdir.mark_timed_out(deadline)
            killed = watch.kill() if watch is not None else False
            if not killed:
                _kill_via_api(client, container_id)
        if watch is not None:
            watch.close()
    pump.join(_DRAIN_S)
    figures = {_STREAM_NAMES[number]: tail.finish() for number, tail in files.items()}
    write_capture(jobdir.logs, figures, complete=fresh and pump.clean and not pump.is_alive())
    return 0


class _Pump(threading.Thread):
    """Copies Docker's multiplexed attach stream into one file per stream."""

    def __init__(self, sock, files: dict[int, TailFile]) -> None:
        super().__init__(name="log-pump", daemon=True)
        self.sock = sock
        self.files = files
        self.clean = False  # the stream ended normally (the container's streams closed)

    def run(self) -> None:
        try:
            while True:
                header = _read_exact(self.sock, 8)
                if len(header) < 8:
                    self.clean = not header
                    return
                kind, size = header[0], struct.unpack(">I", header[4:])[0]
                data = _read_exact(self.sock, size)
                target = self.files.get(kind)
                if target is not None:
                    target.write(data)
                if len(data) < size:
                    return
        except OSError as err:
            log.warning("the job's output stream broke: %s", err)


def _read_exact(sock, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def _state(client, container_id: str) -> dict | None:
    import docker.errors

    try:
        return client.api.inspect_container(container_id)["State"]
    except docker.errors.NotFound:
        return None
    except Exception as err:  # the API may hiccup; the deadline must not depend on it
        log.warning("Docker did not answer: %s", err)
        return {"Status": "unknown", "Running": True}


def _kill_via_api(client, container_id: str) -> None:
    try:
        client.api.kill(container_id)
    except Exception as err:  # gone already, or the API is down: the node's watchdog retries
        log.warning("could not kill the container through the API: %s", err)


def _ends_before(deadline: float, watch, client, container_id: str) -> bool:
    """Wait for the job's end until ``deadline``; True if it ended by then."""
    while time.time() < deadline:
        remaining = min(1.0, deadline - time.time())  # re-read the clock at least every second
        if watch is not None:
            if watch.exited(remaining):
                return True
        else:
            state = _state(client, container_id)
            if state is None or not state.get("Running"):
                return True
            time.sleep(min(_POLL_S, max(0.0, remaining)))
    return watch.exited(0) if watch is not None else False


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s supervisor: %(message)s")
    folder, container_id = argv
    return supervise(JobDir(Path(folder)), container_id)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
