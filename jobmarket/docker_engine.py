"""A Docker engine and the local job image, made available on demand.

Tests, the demo and the provider node all need a reachable Docker engine and an image that
runs without a registry (none is reachable here). ``ensure_engine()`` reuses a running engine,
or, as root, installs Debian's ``docker.io`` and starts ``dockerd`` on the default socket;
``ensure_image()`` builds ``jobmarket/busybox:1`` from Debian's static busybox with an image
import (the API behind ``docker import``). Both are idempotent and fast when all is up.

Command line (``make docker-engine`` runs the first)::

    python -m jobmarket.docker_engine ensure
    python -m jobmarket.docker_engine build-image [NAME]
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
import docker
import docker.errors
import requests.exceptions

from jobmarket.cli import ErrorReportingGroup, debug_option
from jobmarket.errors import InvalidInput, Unreachable
from jobmarket.fileio import locked
from jobmarket.paths import home

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = f"unix://{DEFAULT_SOCKET}"
DEFAULT_IMAGE = "jobmarket/busybox:1"
# The Debian packages the engine and the image are made from.
APT_PACKAGES = ("docker.io", "busybox-static")
BUSYBOX_PATHS = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
DOCKERD_PIDFILE = Path("/var/run/docker.pid")
# The job image: busybox's applets as links, mount points for the executor, nobody's account.
IMAGE_FOLDERS = [
    ("bin", 0o755), ("sbin", 0o755), ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
    ("etc", 0o755), ("tmp", 0o1777), ("in", 0o755), ("out", 0o755), ("proc", 0o555),
    ("sys", 0o555), ("dev", 0o755),
]  # fmt: skip
IMAGE_CHANGES = [
    "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["sh"]',
    "LABEL org.jobmarket.image=busybox-static",
]
IMAGE_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}
SKIPPED_APPLETS = {"bin/busybox", "linuxrc"}
# Serialises concurrent `ensure` runs (make, a test session, the demo) on one machine.
START_LOCK = Path("/var/run/jobmarket-dockerd.lock")
START_TIMEOUT_S = 60.0
API_TIMEOUT_S = 60.0

_CONNECTION_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


@dataclass(frozen=True)
class EngineStatus:
    """What ``ensure_engine`` found or did."""

    host: str
    version: str
    api_version: str
    installed: bool = False
    started_pid: int | None = None
    log_path: Path | None = None

    def describe(self) -> str:
        actions = []
        if self.installed:
            actions.append(f"installed {' '.join(APT_PACKAGES)}")
        if self.started_pid is not None:
            actions.append(f"started dockerd (pid {self.started_pid}, log {self.log_path})")
        done = f" ({'; '.join(actions)})" if actions else ""
        return f"Docker {self.version} (API {self.api_version}) is reachable at {self.host}{done}"


def engine_host() -> str:
    """The engine address the Docker SDK and CLI will use: ``$DOCKER_HOST`` or the default."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _unreachable(host: str) -> Unreachable:
    if host == DEFAULT_HOST:
        return Unreachable(
            f"Docker is not reachable at {host}",
            "start Docker (systemctl start docker) or run as root so `make` can start it",
        )
    return Unreachable(
        f"Docker is not reachable at {host} (from DOCKER_HOST)",
        "start that engine, or unset DOCKER_HOST to use the default socket",
    )


def docker_client(timeout: float = API_TIMEOUT_S) -> docker.DockerClient:
    """A client for the configured engine that has just answered a ping.

    ``timeout`` bounds every API call's socket wait, so no call can block a caller forever.
    """
    host = engine_host()
    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=timeout)
        client.ping()
    except _CONNECTION_ERRORS as err:
        raise _unreachable(host) from err
    return client


def _status(client: docker.DockerClient, **done: object) -> EngineStatus:
    version = client.version()
    return EngineStatus(
        host=engine_host(),
        version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        **done,  # type: ignore[arg-type]
    )


def ensure_engine() -> EngineStatus:
    """Reuse a reachable engine, else (as root) install and start ``dockerd``; bounded."""
    try:
        return _status(docker_client())
    except Unreachable:
        host = engine_host()
        if host != DEFAULT_HOST or os.geteuid() != 0:
            raise
    with locked(START_LOCK):
        # Another process may have started the engine while we waited for the lock.
        try:
            return _status(docker_client())
        except Unreachable:
            pass
        installed = False
        if _dockerd_binary() is None:
            _apt_install(APT_PACKAGES)
            installed = True
        pid = _running_dockerd_pid()
        log_path = None
        if pid is None:
            pid, log_path = _start_dockerd()
        client = _wait_for_engine(pid, log_path)
        return _status(client, installed=installed, started_pid=pid, log_path=log_path)


def _dockerd_binary() -> str | None:
    return shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin:/sbin:/bin")


def _apt_install(packages: tuple[str, ...]) -> None:
    """Install Debian packages; refreshes the package lists once if the first try fails."""
    if shutil.which("apt-get") is None:
        raise Unreachable(
            f"Docker is not installed and apt-get is missing to install {' '.join(packages)}",
            "install Docker with your system's package manager, then run make docker-engine",
        )
    print(f"installing {' '.join(packages)} with apt-get ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, capture_output=True, text=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
    retry = subprocess.run(install, env=env, capture_output=True, text=True)
    if retry.returncode != 0:
        last = (retry.stderr.strip() or retry.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise Unreachable(
            f"apt-get could not install {' '.join(packages)} ({last[0]})",
            "check the package sources (apt-get update), then run make docker-engine again",
        )


def _running_dockerd_pid() -> int | None:
    """The pid of a dockerd that is alive but not answering yet (e.g. still starting)."""
    try:
        pid = int(DOCKERD_PIDFILE.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "dockerd" else None


def _start_dockerd() -> tuple[int, Path]:
    """Start dockerd detached from this process (it outlives ``make``), logging under home()."""
    binary = _dockerd_binary()
    if binary is None:
        raise Unreachable(
            "dockerd is still missing after installing docker.io",
            "install Docker by hand, then run make docker-engine again",
        )
    log_path = home() / "dockerd.log"
    command = [
        binary,
        "--host",
        DEFAULT_HOST,
        "--pidfile",
        str(DOCKERD_PIDFILE),
        "--storage-driver",
        "overlay2",
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    print(f"starting dockerd (pid {process.pid}, log {log_path}) ...", file=sys.stderr, flush=True)
    return process.pid, log_path


def _wait_for_engine(pid: int, log_path: Path | None) -> docker.DockerClient:
    deadline = time.monotonic() + START_TIMEOUT_S
    where = f"see {log_path}" if log_path else "see its log"
    while time.monotonic() < deadline:
        try:
            return docker_client(timeout=5)
        except Unreachable:
            pass
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            raise Unreachable(
                f"dockerd (pid {pid}) exited while starting ({where}: {_last_line(log_path)})",
                "fix the cause shown at the end of that log, then run make docker-engine again",
            )
        time.sleep(0.2)
    raise Unreachable(
        f"dockerd (pid {pid}) did not answer on {DEFAULT_HOST} within {START_TIMEOUT_S:.0f} s",
        f"{where} for the cause, then run make docker-engine again",
    )


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def _last_line(log_path: Path | None) -> str:
    if log_path is None or not log_path.exists():
        return "no log"
    lines = log_path.read_text(errors="replace").strip().splitlines()
    return lines[-1][-200:] if lines else "empty log"


# --- the local image --------------------------------------------------------------------


def ensure_image(name: str = DEFAULT_IMAGE, client: docker.DockerClient | None = None) -> str:
    """The id of image ``name``, imported from the host's static busybox if it is missing."""
    client = client or docker_client()
    try:
        return client.images.get(name).id
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as err:
        raise InvalidInput(
            f"Docker refused the image name {name!r} ({err.explanation})",
            "use a name like jobmarket/busybox:1",
        ) from err
    except _CONNECTION_ERRORS as err:
        raise _unreachable(engine_host()) from err
    repository, tag = _split_image_name(name)
    layer = _busybox_rootfs(_static_busybox())
    try:
        client.api.import_image_from_data(
            layer, repository=repository, tag=tag, changes=IMAGE_CHANGES
        )
        return client.images.get(name).id
    except _CONNECTION_ERRORS as err:
        raise Unreachable(
            f"Docker could not import image {name} ({err})",
            "check that the engine is healthy (docker info), then try again",
        ) from err


def _split_image_name(name: str) -> tuple[str, str]:
    """``repo/name:tag`` -> (``repo/name``, ``tag``); a colon in a registry host is no tag."""
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, "latest"
    return repository, tag


def _static_busybox() -> Path:
    """A statically linked busybox (the image has no libc), installing it if we may."""
    found = _find_static_busybox()
    if found is None and os.geteuid() == 0:
        _apt_install(("busybox-static",))
        found = _find_static_busybox()
    if found is not None:
        return found
    raise Unreachable(
        "no statically linked busybox found (looked at "
        + ", ".join(str(p) for p in BUSYBOX_PATHS)
        + ")",
        "install Debian's busybox-static package (apt-get install busybox-static)",
    )


def _find_static_busybox() -> Path | None:
    return next((p for p in BUSYBOX_PATHS if p.is_file() and _is_static_elf(p)), None)


def _is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF without a program interpreter (PT_INTERP)."""
    with open(path, "rb") as elf:
        header = elf.read(64)
        if len(header) < 64 or header[:6] != b"\x7fELF\x02\x01":
            return False
        (phoff,) = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        elf.seek(phoff)
        table = elf.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def _busybox_rootfs(busybox: Path) -> bytes:
    """A reproducible root filesystem tar: busybox, one link per applet, empty mount points."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    applets = sorted({entry for entry in listing if entry and entry not in SKIPPED_APPLETS})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder, mode in IMAGE_FOLDERS:
            tar.addfile(_entry(folder, tarfile.DIRTYPE, mode))
        data = busybox.read_bytes()
        tar.addfile(_entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(data)), io.BytesIO(data))
        for applet in applets:
            tar.addfile(_entry(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
        for name, text in IMAGE_FILES.items():
            content = text.encode()
            tar.addfile(
                _entry(name, tarfile.REGTYPE, 0o644, size=len(content)), io.BytesIO(content)
            )
    return buffer.getvalue()


def _entry(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime = info.uid = info.gid = 0
    return info


# --- command line -----------------------------------------------------------------------


@click.group(cls=ErrorReportingGroup)
@debug_option
def cli(debug: bool) -> None:
    """Make a Docker engine and the local job image available."""


@cli.command()
def ensure() -> None:
    """Reuse a reachable Docker engine, or start one (as root); print its version."""
    click.echo(ensure_engine().describe())


@cli.command("build-image")
@click.argument("name", default=DEFAULT_IMAGE)
def build_image(name: str) -> None:
    """Import the busybox job image NAME from the host's static busybox (if missing)."""
    image_id = ensure_image(name)
    click.echo(f"image {name} is {image_id}")


if __name__ == "__main__":
    cli()
