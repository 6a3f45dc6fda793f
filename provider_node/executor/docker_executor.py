"""Run one untrusted job in a hardened Docker container and collect what it produced.

The executor is the only part of the node that talks to Docker about jobs. It knows nothing of
the contract or of publishing: the node hands it an :class:`ExecutionRequest` and gets back an
:class:`ExecutionResult` whose outputs folder the publisher pins (Bacalhau's executor /
publisher split).

State machine of one job (the container name ``jobmarket-<key>`` makes every step idempotent
and lets a restarted node resume from whatever it finds)::

    (none) --start--> created --start--> running --exit / watchdog kill--> exited
    exited --collect--> collected --remove--> removed

* ``start`` creates the /out filesystem and the container, then starts it. If the container
  exists it is returned as it is, and started only if it never ran (``created``): a job never
  runs twice. A crash between create and start leaves ``created``; ``start`` resumes it.
  Before starting it, the job's supervisor (:mod:`.supervisor`, a process of its own that
  outlives the node) attaches to its two output streams.
* ``wait`` returns when the container has stopped. The supervisor and the watchdog kill it
  at its deadline (``StartedAt + timeout_s``, read from Docker, so it holds across node
  restarts, and while no node runs at all).
* ``collect`` (only on a stopped container) waits for the supervisor to finish the logs,
  copies /out safely to ``outputs/`` and writes ``result.json``; it is idempotent (a second
  call reads the file).
* ``remove`` deletes the container, unmounts and deletes the /out filesystem; the outputs,
  logs and result stay until ``purge``.

Phases are reported by :meth:`DockerExecutor.find_job_containers` as :class:`Phase`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from jobmarket.docker_engine import docker_client, engine_host
from jobmarket.errors import Unreachable
from jobmarket.paths import home
from provider_node.executor import profile, supervisor
from provider_node.executor.collector import OutputCaps, collect_outputs
from provider_node.executor.errors import (
    ContainerConflict,
    ExecutorError,
    ImageNotAvailable,
    InvalidRequest,
    NotStopped,
)
from provider_node.executor.jobdir import JobDir
from provider_node.executor.logs import read_logs
from provider_node.executor.result import ExecutionResult, decide_status
from provider_node.executor.spec import (
    ExecutionRequest,
    GpuAssignment,
    Limits,
    NodePolicy,
    check_name,
)
from provider_node.executor.volume import OutputVolume
from provider_node.executor.watchdog import ProcessWatch, Watchdog, parse_docker_time

log = logging.getLogger(__name__)

# Failures of the Docker API itself (as opposed to Docker saying "no").
_API_FAILURES = (requests.exceptions.RequestException, docker.errors.DockerException, OSError)
_POLL_S = 0.25
_ATTACH_S = 30.0  # for a new supervisor to start and attach to the job's streams


class Phase(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    COLLECTED = "collected"
    REMOVED = "removed"


@dataclass
class JobContainer:
    """A job's container as last seen; rebuilt from Docker's labels after a node restart."""

    key: str
    node_id: str
    container_id: str
    docker_state: str
    started_at: datetime | None
    finished_at: datetime | None
    limits: Limits
    image: str
    image_id: str
    workdir: Path
    pid: int = 0
    start_error: str | None = None  # Docker could not start it: it never ran, and never will
    gpus: tuple[GpuAssignment, ...] = ()  # what its device request gave it (from Docker)

    @property
    def running(self) -> bool:
        return self.docker_state in ("running", "paused", "restarting")

    @property
    def name(self) -> str:
        return profile.container_name(self.key)

    @property
    def phase(self) -> Phase:
        if self.docker_state == "created" and not self.start_error:
            return Phase.CREATED
        if self.running:
            return Phase.RUNNING
        if JobDir(self.workdir).result_path.exists():
            return Phase.COLLECTED
        return Phase.EXITED

    @property
    def deadline(self) -> float | None:
        """Wall-clock time (epoch seconds) at which the watchdog kills the job."""
        if self.started_at is None:
            return None
        return self.started_at.timestamp() + self.limits.timeout_s

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> JobContainer:
        labels = attrs["Config"]["Labels"] or {}
        state = attrs["State"]
        return cls(
            key=labels[profile.LABEL_JOB],
            node_id=labels[profile.LABEL_NODE],
            container_id=attrs["Id"],
            docker_state=state["Status"],
            started_at=parse_docker_time(state.get("StartedAt")),
            finished_at=parse_docker_time(state.get("FinishedAt")),
            limits=Limits.from_dict(json.loads(labels[profile.LABEL_LIMITS])),
            image=labels.get(profile.LABEL_IMAGE, ""),
            image_id=attrs["Image"],
            workdir=Path(labels[profile.LABEL_WORKDIR]),
            pid=int(state.get("Pid") or 0),
            start_error=(state.get("Error") or None) if state["Status"] == "created" else None,
            gpus=_given_gpus(attrs.get("HostConfig") or {}, profile.gpus_from_labels(labels)),
        )


@dataclass(frozen=True)
class ExitState:
    """How the container stopped, as far as is known when ``wait`` returns."""

    exit_code: int | None
    oom_killed: bool
    timed_out: bool
    started_at: datetime | None
    finished_at: datetime | None
    confirmed: bool  # False: the process is gone but Docker did not answer in time


class DockerExecutor:
    """Runs jobs for one node under the hardened profile; safe to share between threads."""

    def __init__(
        self,
        node_id: str,
        *,
        client: docker.DockerClient | None = None,
        policy: NodePolicy | None = None,
        work_root: Path | None = None,
    ) -> None:
        self.node_id = check_name("node id", node_id)
        self.client = client or docker_client()
        self.policy = policy or NodePolicy()
        self.work_root = Path(work_root) if work_root else home() / "nodes" / node_id / "jobs"
        self.watchdog = Watchdog()
        self._watches: dict[str, ProcessWatch] = {}
        self._watches_lock = threading.Lock()

    def close(self) -> None:
        """Stop the watchdog (running jobs keep running; a new executor resumes them)."""
        self.watchdog.close()
        with self._watches_lock:
            for watch in self._watches.values():
                watch.close()
            self._watches.clear()

    def engine_info(self) -> dict[str, Any]:
        """What the engine says of itself (``docker info``): runtimes, CDI folders, …"""
        return self._call(self.client.info)

    # --- the whole run ------------------------------------------------------------------

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        """Start, wait, collect and remove: the result with outputs and logs on disk.

        If a step raises (e.g. Docker stops answering), the job is left as it is, to be
        resumed through ``find_job_containers`` like after a crash.
        """
        job = self.start(request)
        self.wait(job)
        result = self.collect(job)
        self.remove(job)
        return result

    # --- steps --------------------------------------------------------------------------

    def start(self, request: ExecutionRequest) -> JobContainer:
        """Create and start the job's container, or return the one that already exists."""
        limits = request.limits.clamped_to(self.policy.ceiling)
        jobdir = self.jobdir(request.key)
        with jobdir.locked():
            container = self._container(request.key)
            process = None
            if container is None:
                image_id = self._resolve_image(request.image)
                jobdir.create()
                if not supervisor.is_running(jobdir):  # it starts while the container is made
                    process = self._spawn_supervisor(
                        jobdir, profile.container_name(request.key), limits
                    )
                container = self._create(request, limits, jobdir, image_id)
            job = self._check_owner(self._job(container))
            if job.phase == Phase.CREATED:  # never ran: safe to start (now or after a crash)
                self._volume(jobdir).ensure_mounted()
                self._supervise(job, jobdir, process)
                try:
                    self._call(container.start)
                except docker.errors.APIError as err:
                    # Recorded in State.Error: collect reports it as status "error".
                    log.warning("Docker could not start job %s: %s", job.key, err)
                job = self._job(self._reload(container))
        self._track(job)
        return job

    def wait(self, job: JobContainer) -> ExitState:
        """Block until the job's container has stopped; the watchdog kills it at its deadline.

        The deadline is Docker's ``StartedAt`` plus the job's timeout, so waiting for a
        container started by an earlier process keeps its original deadline.
        """
        watch = self._known_watch(job.key)
        if watch is None:  # not started by this executor, or already exited: ask Docker
            job = self._refresh(job)
            if job.phase == Phase.CREATED:
                raise NotStopped(f"job {job.key} was never started", "call start first")
            if not job.running:
                return self._exit_state(job)
            watch = self._watch_for(job)
        self._track(job)
        latest = (job.deadline or time.time()) + self.policy.api_grace_s
        if watch is not None:  # no API call until the process is gone
            while not watch.exited(_POLL_S) and time.time() < latest:
                pass
        if watch is None or not watch.exited(0):
            self._poll_until_stopped(job, latest)
        self.watchdog.disarm(job.key)
        return self._exit_state(job)

    def collect(self, job: JobContainer) -> ExecutionResult:
        """Logs, outputs and status of a stopped job, saved as ``result.json`` (idempotent)."""
        jobdir = self.jobdir(job.key)
        with jobdir.locked():
            if jobdir.result_path.exists():
                return ExecutionResult.load(jobdir.result_path)
            container = self._container(job.key)
            if container is None:
                raise ExecutorError(
                    f"the container of job {job.key} is gone and its outputs were never collected",
                    "run the job again",
                )
            job = self._check_owner(self._job(container))
            if job.phase in (Phase.CREATED, Phase.RUNNING):
                raise NotStopped(
                    f"job {job.key} is {job.docker_state}", "wait for it before collecting"
                )
            return self._collect_stopped(container, job, jobdir)

    def remove(self, job: JobContainer | str, purge: bool = False) -> None:
        """Delete the container and the /out filesystem; ``purge`` also deletes the folder."""
        key = job if isinstance(job, str) else job.key
        jobdir = self.jobdir(key)
        self.watchdog.disarm(key)
        with jobdir.locked():
            container = self._container(key)
            if container is not None:
                self._check_owner(self._job(container))
                with contextlib.suppress(docker.errors.NotFound):
                    self._call(container.remove, force=True)
            self._volume(jobdir).destroy()
            with self._watches_lock:
                watch = self._watches.pop(key, None)
            if watch is not None:
                watch.close()
            if purge:
                jobdir.purge()

    def find_job_containers(self, node_id: str | None = None) -> list[JobContainer]:
        """This node's (or ``node_id``'s) job containers in any state, by their labels."""
        filters = {"label": [f"{profile.LABEL_NODE}={node_id or self.node_id}"]}
        # ignore_removed: a container removed between the listing and its inspection (another
        # job of this node finishing) is simply gone, not an error.
        containers = self._call(
            self.client.containers.list, all=True, filters=filters, ignore_removed=True
        )
        jobs = []
        for container in containers:
            try:
                jobs.append(self._job(container))
            except (KeyError, ValueError, InvalidRequest) as err:  # foreign or damaged labels
                log.warning("skipping container %s: %s", container.name, err)
        return sorted(jobs, key=lambda job: job.key)

    def find_job_container(self, key: str) -> JobContainer | None:
        """The container of job ``key`` (this node's), in any state; None if there is none."""
        container = self._container(check_name("job key", key))
        return None if container is None else self._check_owner(self._job(container))

    def jobdir(self, key: str) -> JobDir:
        """The job's host folder, always below ``work_root`` (never taken from a label)."""
        return JobDir(self.work_root / check_name("job key", key))

    def check_image(self, image: str) -> str | None:
        """The local id of ``image``, or None if it is missing but the policy lets ``start``
        pull it; never pulls, so the node can ask before it claims a job.

        Raises ImageNotAvailable if it is missing and pulling is off, InvalidRequest if Docker
        rejects the name.
        """
        try:
            return self._call(self.client.images.get, image).id
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as err:
            raise InvalidRequest(f"image name {image!r} is invalid ({err.explanation})") from err
        if not self.policy.allow_pull:
            raise ImageNotAvailable(
                f"image {image} is not on this node and pulling is disabled",
                "load the image (docker load) or allow pulling in the node policy",
            )
        return None

    # --- internals ----------------------------------------------------------------------

    def _create(
        self, request: ExecutionRequest, limits: Limits, jobdir: JobDir, image_id: str | None = None
    ) -> Container:
        image_id = image_id or self._resolve_image(request.image)
        jobdir.create()
        volume = self._volume(jobdir)
        volume.create(limits.max_output_bytes, limits.max_output_files, self._job_user())
        config = profile.hardened_config(
            request=request,
            limits=limits,
            policy=self.policy,
            image_id=image_id,
            job_labels=profile.labels(self.node_id, request, limits, jobdir.root),
            out_source=volume.mountpoint,
            out_capacity=OutputVolume.capacity_for(
                limits.max_output_bytes, limits.max_output_files
            ),
        )
        try:
            return self._call(self.client.containers.create, **config)
        except docker.errors.APIError as err:
            volume.destroy()
            if err.status_code == 409:  # the job lock rules out this node: another one did it
                raise ContainerConflict(
                    f"container {profile.container_name(request.key)} was just created elsewhere",
                    "use another job key, or that node's executor",
                ) from err
            raise ExecutorError(
                f"Docker refused to create the container of job {request.key} ({err.explanation})",
                "check the request's limits and the engine's log",
            ) from err

    def _resolve_image(self, image: str) -> str:
        """The local image's id; pulling only if the node policy allows it."""
        image_id = self.check_image(image)
        if image_id is not None:
            return image_id
        try:
            return self._call(self.client.images.pull, image).id
        except docker.errors.APIError as err:
            raise ImageNotAvailable(
                f"image {image} could not be pulled ({err.explanation})",
                "check the image name and the registry",
            ) from err

    def _supervise(self, job: JobContainer, jobdir: JobDir, process: Any = None) -> None:
        """Make sure the job's supervisor runs and is attached to its streams."""
        if process is None and not supervisor.is_running(jobdir):
            process = self._spawn_supervisor(jobdir, job.container_id, job.limits)
        if not supervisor.wait_until_attached(jobdir, job.container_id, _ATTACH_S, process):
            # The job still runs, under the node's watchdog; its logs are marked incomplete.
            log.warning(
                "the supervisor of job %s did not attach (see %s)",
                job.key,
                jobdir.supervisor_errors,
            )

    def _spawn_supervisor(self, jobdir: JobDir, container: str, limits: Limits) -> Any:
        """A supervisor for the container named or numbered ``container``; it may not exist
        yet (the supervisor waits for it, so its start overlaps the container's creation)."""
        return supervisor.spawn(
            jobdir,
            container,
            engine=engine_host(),
            timeout_s=limits.timeout_s,
            max_log_bytes=limits.max_log_bytes,
        )

    def _track(self, job: JobContainer) -> None:
        """Watch a running job's process and arm its deadline with the watchdog."""
        if not job.running:
            return
        jobdir = self.jobdir(job.key)
        if not supervisor.is_running(jobdir):  # it died: a new one keeps the rest of the logs
            self._spawn_supervisor(jobdir, job.container_id, job.limits)
        self._watch_for(job)
        deadline = job.deadline
        if deadline is not None:
            self.watchdog.arm(job.key, deadline, lambda: self._expire(job, deadline))

    def _known_watch(self, key: str) -> ProcessWatch | None:
        with self._watches_lock:
            return self._watches.get(key)

    def _watch_for(self, job: JobContainer) -> ProcessWatch | None:
        with self._watches_lock:
            watch = self._watches.get(job.key)
            if watch is None and job.pid > 0:
                watch = ProcessWatch.attach(job.pid, job.container_id)
                if watch is not None:
                    self._watches[job.key] = watch
            return watch

    def _expire(self, job: JobContainer, deadline: float) -> None:
        """The watchdog's action: mark the timeout, then kill without waiting on the API."""
        watch = self._watch_for(job)
        if watch is not None and watch.exited(0):
            return  # finished just in time
        self.jobdir(job.key).mark_timed_out(deadline)
        killed = watch.kill() if watch is not None else False
        how = "killed through its pidfd" if killed else "killing it through the Docker API"
        log.info("job %s reached its deadline: %s", job.key, how)
        if not killed:
            # Best effort through the API, in its own thread: it may hang, the watchdog may not.
            threading.Thread(
                target=self._kill_via_api, args=(job.container_id,), daemon=True
            ).start()

    def _kill_via_api(self, container_id: str) -> None:
        try:
            self.client.api.kill(container_id)
        except _API_FAILURES as err:
            log.warning("could not kill container %s through the API: %s", container_id, err)

    def _poll_until_stopped(self, job: JobContainer, latest: float) -> None:
        pauses = _backoff()
        while time.time() < latest:
            try:
                state = self.client.api.inspect_container(job.container_id)["State"]
                if not state.get("Running"):
                    return
            except docker.errors.NotFound:
                return
            except _API_FAILURES as err:
                log.warning("Docker did not answer about job %s: %s", job.key, err)
            time.sleep(next(pauses))

    def _exit_state(self, job: JobContainer) -> ExitState:
        """The final state from Docker, waited for up to the policy's grace period."""
        killed_at_deadline = self.jobdir(job.key).timeout_deadline()
        latest = time.time() + self.policy.api_grace_s
        pauses = _backoff()  # Docker records the exit a few ms after the process is gone
        while True:
            try:
                attrs = self.client.api.inspect_container(job.container_id)
                state = attrs["State"]
                if not state.get("Running"):
                    finished = parse_docker_time(state.get("FinishedAt"))
                    return ExitState(
                        exit_code=int(state.get("ExitCode", -1)),
                        oom_killed=bool(state.get("OOMKilled")),
                        timed_out=_timed_out(killed_at_deadline, finished),
                        started_at=parse_docker_time(state.get("StartedAt")),
                        finished_at=finished,
                        confirmed=True,
                    )
            except docker.errors.NotFound:
                break
            except _API_FAILURES as err:
                log.warning("Docker did not answer about job %s: %s", job.key, err)
            if time.time() >= latest:
                break
            time.sleep(next(pauses))
        return ExitState(
            exit_code=None,
            oom_killed=False,
            timed_out=killed_at_deadline is not None,
            started_at=job.started_at,
            finished_at=None,
            confirmed=False,
        )

    def _collect_stopped(
        self, container: Container, job: JobContainer, jobdir: JobDir
    ) -> ExecutionResult:
        state = container.attrs["State"]
        exit_code = int(state.get("ExitCode", -1))
        oom_killed = bool(state.get("OOMKilled"))
        timed_out = _timed_out(jobdir.timeout_deadline(), job.finished_at)
        error = None
        if job.start_error:
            error = f"Docker could not start the job: {job.start_error}"
        elif job.docker_state == "dead":
            error = f"Docker reports the container as dead ({state.get('Error') or 'no reason'})"
        if not supervisor.wait_until_done(jobdir, self.policy.api_grace_s + 30.0):
            log.warning("the supervisor of job %s did not finish; logs may be partial", job.key)
        logs = read_logs(jobdir.logs, job.limits.max_log_bytes)
        volume = self._volume(jobdir)
        volume.ensure_mounted()
        partial = jobdir.root / "outputs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        caps = OutputCaps(
            max_bytes=job.limits.max_output_bytes,
            max_files=job.limits.max_output_files,
            max_depth=job.limits.max_output_depth,
        )
        collection = collect_outputs(volume.mountpoint, partial, caps)
        shutil.rmtree(jobdir.outputs, ignore_errors=True)
        partial.rename(jobdir.outputs)
        started, finished = job.started_at, job.finished_at
        # max: Docker may report the finish of a very short run a millisecond before its start.
        runtime = max(0.0, (finished - started).total_seconds()) if started and finished else None
        result = ExecutionResult(
            key=job.key,
            status=decide_status(
                exit_code=exit_code,
                oom_killed=oom_killed,
                timed_out=timed_out,
                output_limit=collection.limit is not None,
                error=error,
            ),
            exit_code=exit_code,
            started_at=started,
            finished_at=finished,
            runtime_s=runtime,
            stdout_tail=logs.stdout.tail,
            stderr_tail=logs.stderr.tail,
            stdout_path=logs.stdout.path,
            stderr_path=logs.stderr.path,
            logs_truncated=logs.truncated,
            stdout_dropped_bytes=logs.stdout.dropped_bytes,
            stderr_dropped_bytes=logs.stderr.dropped_bytes,
            logs_complete=logs.stdout.complete and logs.stderr.complete,
            output_dir=jobdir.outputs,
            outputs=tuple(collection.files),
            output_bytes=collection.total_bytes,
            refused=tuple(collection.refused),
            refused_total=collection.refused_total,
            refused_by_kind=dict(collection.refused_by_kind),
            output_limit=collection.limit,
            limits=job.limits,
            image=job.image,
            image_id=job.image_id,
            container_id=job.container_id,
            user=container.attrs["Config"].get("User") or "",
            error=error,
            oom_killed=oom_killed,
            timed_out=timed_out,
            gpus=job.gpus,
        )
        result.save(jobdir.result_path)
        return result

    def _container(self, key: str) -> Container | None:
        try:
            return self._call(self.client.containers.get, profile.container_name(key))
        except docker.errors.NotFound:
            return None

    def _reload(self, container: Container) -> Container:
        self._call(container.reload)
        return container

    def _refresh(self, job: JobContainer) -> JobContainer:
        container = self._container(job.key)
        if container is None:
            raise ExecutorError(f"the container of job {job.key} is gone", "run the job again")
        return self._job(container)

    def _check_owner(self, job: JobContainer) -> JobContainer:
        if job.node_id != self.node_id:
            raise ContainerConflict(
                f"container {job.name} belongs to node {job.node_id}, not {self.node_id}",
                "use another job key, or that node's executor",
            )
        return job

    def _job(self, container: Container) -> JobContainer:
        job = JobContainer.from_attrs(container.attrs)
        job.workdir = self.jobdir(job.key).root
        return job

    def _volume(self, jobdir: JobDir) -> OutputVolume:
        return OutputVolume(jobdir.volume_image, jobdir.mountpoint)

    def _job_user(self) -> tuple[int, int]:
        uid, _, gid = self.policy.user.partition(":")
        return int(uid), int(gid or uid)

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """A Docker API call whose transport failure becomes one clear error line."""
        try:
            return function(*args, **kwargs)
        except docker.errors.APIError:
            raise
        except _API_FAILURES as err:
            raise Unreachable(
                f"the Docker engine did not answer ({type(err).__name__}: {err})",
                "check that dockerd is running (make docker-engine), then retry",
            ) from err


def _given_gpus(
    host_config: dict[str, Any], labelled: tuple[GpuAssignment, ...]
) -> tuple[GpuAssignment, ...]:
    """The GPU indexes the container's NVIDIA device requests name, as Docker holds them,
    with the model and uuid its labels recorded."""
    known = {gpu.index: gpu for gpu in labelled}
    indexes = [
        int(device)
        for request in host_config.get("DeviceRequests") or []
        if request.get("Driver") == "nvidia"
        for device in request.get("DeviceIDs") or []
        if str(device).isdigit()
    ]
    return tuple(known.get(index, GpuAssignment(index)) for index in indexes)


def _backoff(first: float = 0.005, longest: float = _POLL_S) -> Iterator[float]:
    pause = first
    while True:
        yield pause
        pause = min(pause * 2, longest)


def _timed_out(killed_at_deadline: float | None, finished: datetime | None) -> bool:
    """The watchdog's mark counts only if the job was still running at that deadline."""
    if killed_at_deadline is None:
        return False
    return finished is None or finished.timestamp() >= killed_at_deadline
