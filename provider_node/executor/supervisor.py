"""A job's supervisor: its two output streams and its wall-clock deadline, in its own process.

The node's watchdog lives in the node: while the node is down (``kill -9``, a crash, an
upgrade) nothing would stop a job at its deadline, and Docker's json-file log driver mixes and
loses the job's streams. So the executor starts one small supervisor per job
(:func:`spawn`), in a new session, which outlives the node and:

1. takes the job's ``supervisor.lock`` (one supervisor per job; the executor asks the lock
   whether one runs, and ``collect`` waits for it to be released), and waits for the
   container (it is spawned while the executor creates it, which hides its start-up), whose
   ``jobmarket.workdir`` label must name this job folder;
2. attaches to the container's stdout and stderr *before* the container starts, so nothing is
   missed, and writes ``supervisor.json`` (the executor starts the container only then);
3. once the container runs, kills it at ``StartedAt + timeout_s`` — Docker's clock, the same
   deadline as the node's watchdog — through a pidfd on its init (API fallback), recording
   ``timeout.json`` first;
4. drains both streams, each into its own capped file (:class:`~.logs.TailFile`), and writes
   ``logs/capture.json`` last, then exits.

A supervisor started for a container that already runs (its first supervisor died) keeps what
was captured, enforces the deadline, and marks the capture incomplete.

Run as ``python -m provider_node.executor.supervisor JOB_FOLDER CONTAINER ENGINE TIMEOUT_S
MAX_LOG_BYTES``, or with ``--from-stdin`` to read those as a JSON line (how the executor keeps
one started ahead). It imports no docker-py or pydantic.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import logging
import os
import socket
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
from provider_node.executor.profile import LABEL_WORKDIR
from provider_node.executor.watchdog import ProcessWatch, parse_docker_time

log = logging.getLogger(__name__)

_STREAM_NAMES = {1: "stdout", 2: "stderr"}
_POLL_S = 0.2
_DRAIN_S = 30.0  # after the container stopped, time for dockerd to deliver the last bytes
_APPEAR_S = 60.0  # for the executor to create (and then start) the container


# -- the executor's side ------------------------------------------------------------------------


def spawn(
    jobdir: JobDir, container: str, *, engine: str, timeout_s: float, max_log_bytes: int
) -> subprocess.Popen[bytes]:
    """Hand the job to a supervisor in a session of its own (it survives the node's death).

    ``engine`` is the Docker host (``unix:///…`` is spoken to directly, anything else through
    docker-py); ``timeout_s`` and ``max_log_bytes`` are the job's applied limits. The process
    was started ahead (a spare waiting on its stdin), so a job's start never waits for an
    interpreter to start; a new spare is started for the next job.
    """
    jobdir.supervisor_marker.unlink(missing_ok=True)
    order = json.dumps([str(jobdir.root), container, engine, repr(float(timeout_s)),
                        str(int(max_log_bytes))]).encode() + b"\n"  # fmt: skip
    with _spare_lock:
        process = _spare.pop() if _spare else None
        if process is None or not _give(process, order):
            process = _start_process()
            _give(process, order)
    threading.Thread(target=_refill, name="supervisor-spare", daemon=True).start()
    # Reap it when it ends (while this process lives); after our death init does.
    threading.Thread(target=process.wait, name="supervisor-reaper", daemon=True).start()
    return process


_spare: list[subprocess.Popen[bytes]] = []  # at most one, per node process
_spare_lock = threading.Lock()


def _refill() -> None:
    with _spare_lock:
        if not _spare:
            _spare.append(_start_process())


def _give(process: subprocess.Popen[bytes], order: bytes) -> bool:
    """Send a waiting supervisor its job; False if it is gone."""
    assert process.stdin is not None
    try:
        process.stdin.write(order)
        process.stdin.close()
    except (BrokenPipeError, ValueError):
        return False
    return True


def _start_process() -> subprocess.Popen[bytes]:
    package_root = str(Path(provider_node.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        # -S: no site-packages scan (tens of ms); the supervisor needs only the standard
        # library and this project, found through PYTHONPATH.
        [sys.executable, "-S", "-m", "provider_node.executor.supervisor", "--from-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        env=env,
        start_new_session=True,
        close_fds=True,
    )


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
        time.sleep(0.005)
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


def supervise(
    jobdir: JobDir, container: str, engine: Engine, timeout_s: float, max_log_bytes: int
) -> int:
    """The supervisor's whole life; returns its exit status.

    ``container`` is the container's name or id; it may not exist yet (the executor spawns
    the supervisor while it creates the container).
    """
    lock = os.open(jobdir.supervisor_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another supervisor has this job
    attrs = _appeared(engine, container)
    labels = ((attrs or {}).get("Config") or {}).get("Labels") or {}
    if attrs is None or labels.get(LABEL_WORKDIR) != str(jobdir.root):
        return 0  # never created (the executor failed), or not this job's container
    container_id, state = attrs["Id"], attrs["State"]
    fresh = state.get("Status") == "created"
    capture = jobdir.logs / CAPTURE_NAME
    if fresh:
        capture.unlink(missing_ok=True)
    elif not state.get("Running") or capture.exists():
        return 0  # it ran to its end under a supervisor, or ended while none watched
    jobdir.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = {
        number: TailFile(jobdir.logs / f"{name}.log", max_log_bytes, keep=not fresh)
        for number, name in _STREAM_NAMES.items()
    }
    stream = engine.attach(container_id)
    write_atomically(
        jobdir.supervisor_marker, json.dumps({"pid": os.getpid(), "container": container_id})
    )
    pump = _Pump(stream, files)
    pump.start()

    started_at = pid = None
    give_up = time.monotonic() + _APPEAR_S
    while started_at is None:  # the executor starts the container once we are attached
        try:
            state = engine.state(container_id)
        except OSError as err:  # a hiccup of the API: look again
            log.warning("Docker did not answer: %s", err)
            state = {"Status": "created"}
        if state is None or (state.get("Status") != "created" and not state.get("Running")):
            break  # removed, or already over
        if state.get("Running") and state.get("StartedAt"):
            started_at, pid = parse_docker_time(state["StartedAt"]), int(state.get("Pid") or 0)
        elif time.monotonic() > give_up and state.get("Status") == "created":
            return 0  # the node died before starting it; its next start spawns a new one
        else:
            pump.join(_POLL_S)  # the streams end when the container stops: no need to wait
            if not pump.is_alive():
                break
    if started_at is not None:
        deadline = started_at.timestamp() + timeout_s
        watch = ProcessWatch.attach(pid or 0, container_id)
        if not _ends_before(deadline, watch, engine, container_id):
            jobdir.mark_timed_out(deadline)
            killed = watch.kill() if watch is not None else False
            if not killed:
                _kill_via_api(engine, container_id)
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


def _appeared(engine: Engine, container: str) -> dict | None:
    """The container's attributes once it exists; None if it does not within ``_APPEAR_S``."""
    latest = time.monotonic() + _APPEAR_S
    while True:
        attrs = engine.inspect(container)
        if attrs is not None or time.monotonic() >= latest:
            return attrs
        time.sleep(0.01)


def _kill_via_api(engine: Engine, container_id: str) -> None:
    try:
        engine.kill(container_id)
    except OSError as err:  # gone already, or the API is down: the node's watchdog retries
        log.warning("could not kill the container through the API: %s", err)


def _ends_before(deadline: float, watch: ProcessWatch | None, engine: Engine, cid: str) -> bool:
    """Wait for the job's end until ``deadline``; True if it ended by then."""
    while time.time() < deadline:
        remaining = min(1.0, deadline - time.time())  # re-read the clock at least every second
        if watch is not None:
            if watch.exited(remaining):
                return True
        else:
            try:
                state = engine.state(cid)
            except OSError as err:  # the API may hiccup; the deadline must not depend on it
                log.warning("Docker did not answer: %s", err)
                state = {"Running": True}
            if state is None or not state.get("Running"):
                return True
            time.sleep(min(_POLL_S, max(0.0, remaining)))
    return watch.exited(0) if watch is not None else False


# -- talking to Docker --------------------------------------------------------------------------


class Engine:
    """The three Docker API calls a supervisor needs, spoken directly over the engine's unix
    socket (a supervisor starts in milliseconds instead of loading docker-py)."""

    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def inspect(self, container: str) -> dict | None:
        """The container's attributes (``docker inspect``), or None if it does not exist."""
        status, body = self._call("GET", f"/containers/{container}/json")
        if status == 404:
            return None
        if status != 200:
            raise OSError(f"Docker answered {status}: {body[:200]!r}")
        return json.loads(body)

    def state(self, container: str) -> dict | None:
        """The container's ``State``, or None if it does not exist."""
        attrs = self.inspect(container)
        return None if attrs is None else attrs["State"]

    def kill(self, container_id: str) -> None:
        status, body = self._call("POST", f"/containers/{container_id}/kill")
        if status not in (204, 404, 409):  # 409: not running any more
            raise OSError(f"Docker answered {status}: {body[:200]!r}")

    def attach(self, container_id: str) -> _Stream:
        """The container's multiplexed stdout/stderr stream, from now on."""
        sock = self._connect()
        path = f"/containers/{container_id}/attach?stream=1&stdout=1&stderr=1"
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
            "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = bytearray()
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("Docker closed the attach connection")
            head += chunk
        head, _, rest = bytes(head).partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1:2]
        if status not in ([b"101"], [b"200"]):
            raise OSError(f"Docker refused to attach: {head[:200]!r}")
        sock.settimeout(None)  # a job may stay silent for hours
        return _Stream(sock, rest)

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        return sock

    def _call(self, method: str, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("docker", timeout=self.timeout)
        connection.sock = self._connect()
        try:
            connection.request(method, path, headers={"Content-Length": "0"})
            response = connection.getresponse()
            return response.status, response.read()
        except http.client.HTTPException as err:
            raise OSError(f"Docker's answer was garbled: {err}") from err
        finally:
            connection.close()


class _DockerPyEngine(Engine):
    """The same calls through docker-py, for an engine that is not a local unix socket."""

    def __init__(self, host: str) -> None:
        import site

        site.main()  # started with -S: docker-py lives in site-packages
        import docker

        self.client = docker.DockerClient(base_url=host, version="auto", timeout=30)

    def inspect(self, container: str) -> dict | None:
        import docker.errors

        try:
            return self.client.api.inspect_container(container)
        except docker.errors.NotFound:
            return None
        except Exception as err:
            raise OSError(str(err)) from err

    def kill(self, container_id: str) -> None:
        try:
            self.client.api.kill(container_id)
        except Exception as err:
            raise OSError(str(err)) from err

    def attach(self, container_id: str) -> _Stream:
        params = {"stdout": 1, "stderr": 1, "stream": 1}
        sock = self.client.api.attach_socket(container_id, params=params)
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(None)
        return _Stream(raw, b"")


def engine_for(host: str) -> Engine:
    if host.startswith("unix://"):
        return Engine(host.removeprefix("unix://"))
    return _DockerPyEngine(host)


class _Stream:
    """A socket with the bytes that arrived together with the HTTP headers put back."""

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self.sock = sock
        self.pending = pending

    def recv(self, size: int) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:size], self.pending[size:]
            return data
        return self.sock.recv(size)


def main(argv: list[str]) -> int:
    if argv == ["--from-stdin"]:  # a spare: wait for the job (EOF: the node went away)
        line = sys.stdin.buffer.readline()
        sys.stdin.close()
        if not line:
            return 0
        argv = json.loads(line)
        errors = os.open(
            JobDir(Path(argv[0])).supervisor_errors,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
            0o600,
        )
        os.dup2(errors, 1)
        os.dup2(errors, 2)
        os.close(errors)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s supervisor: %(message)s")
    folder, container, host, timeout_s, max_log_bytes = argv
    jobdir, engine = JobDir(Path(folder)), engine_for(host)
    return supervise(jobdir, container, engine, float(timeout_s), int(max_log_bytes))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
