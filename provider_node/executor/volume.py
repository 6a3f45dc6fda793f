"""A size- and file-count-limited filesystem for a job's ``/out``.

Why an ext4 image on a loop device: the kernel enforces both caps (a job writing 1 GB gets
``ENOSPC`` at the cap, a job creating a million files runs out of inodes), so the host disk can
never fill, whatever the job does and whether or not the node is alive to watch. Unlike a tmpfs
it is disk-backed (no RAM held, no coupling with the job's memory cgroup) and unlike a Docker
tmpfs mount its content survives the container's stop, a node restart and even a reboot (the
image file stays; ``ensure_mounted`` mounts it again). The image is sparse: it takes disk space
only for what the job writes, at most ``capacity`` bytes. Setting one up costs ~15 ms.

Limits of this design: it needs root (mount, loop devices) and ``mkfs.ext4``; the usable size
is a little above the byte cap (ext4 reserves some blocks) so that exceeding the cap is
observable; depth is not enforced by the filesystem (the collector enforces it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provider_node.executor.errors import OutputVolumeError

MiB = 1024 * 1024
BLOCK_SIZE = 4096
INODE_SIZE = 256  # mkfs.ext4's default for filesystems of this size; passed explicitly below
# Room above the caps: ext4 keeps min(2 %, 16 MiB) for metadata, plus bitmaps and tables.
_SLACK_BYTES = 4 * MiB
_SLACK_INODES = 16
MOUNT_OPTIONS = "loop,nosuid,nodev,noexec,noinit_itable"


@dataclass(frozen=True)
class OutputVolume:
    """The ext4 image ``image`` mounted at ``mountpoint``, its root owned by the job user."""

    image: Path
    mountpoint: Path

    @staticmethod
    def capacity_for(max_bytes: int, max_files: int = 0) -> int:
        """Image size for the caps: the byte cap plus ext4's reserve and the inode tables of
        ``max_files`` files (they take room the job's bytes must not lose), in whole blocks."""
        size = max_bytes + max_bytes // 32 + _SLACK_BYTES + (max_files + _SLACK_INODES) * INODE_SIZE
        return -(-size // BLOCK_SIZE) * BLOCK_SIZE

    def create(self, max_bytes: int, max_files: int, owner: tuple[int, int]) -> None:
        """Make a fresh, empty filesystem (replacing any leftover) and mount it."""
        self.destroy()
        for tool in ("mkfs.ext4", "mount", "umount"):
            if _which(tool) is None:
                raise OutputVolumeError(
                    f"{tool} is missing, so /out cannot be size-limited",
                    "install e2fsprogs and util-linux (apt-get install e2fsprogs mount)",
                )
        capacity = self.capacity_for(max_bytes, max_files)
        self.image.parent.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as image:
            image.truncate(capacity)
        uid, gid = owner
        _run(
            [
                "mkfs.ext4", "-q", "-F", "-b", str(BLOCK_SIZE), "-m", "0",
                "-N", str(max_files + _SLACK_INODES), "-I", str(INODE_SIZE),
                "-O", "^has_journal,^resize_inode",
                "-E", f"root_owner={uid}:{gid},nodiscard,lazy_itable_init=1",
                str(self.image),
            ],
            "could not create the /out filesystem",
        )  # fmt: skip
        self.ensure_mounted()
        # mkfs creates lost+found; the job's /out must start empty.
        (self.mountpoint / "lost+found").rmdir()
        available = os.statvfs(self.mountpoint)
        if available.f_bavail * available.f_frsize <= max_bytes:
            self.destroy()
            raise OutputVolumeError(
                f"the /out filesystem holds less than the {max_bytes}-byte cap",
                "report this as a bug with the cap that was used",
            )

    def ensure_mounted(self) -> None:
        """Mount the image if it is not (after a reboot); never binds an unlimited folder."""
        if self.is_mounted():
            return
        if not self.image.is_file():
            raise OutputVolumeError(
                f"the /out image {self.image} is missing", "the job must be started again"
            )
        # The bare mount point is root-owned and read-only: if it were ever bound without the
        # filesystem on it, the job (uid 65534) could not write to the host disk through it.
        self.mountpoint.mkdir(mode=0o555, parents=True, exist_ok=True)
        os.chmod(self.mountpoint, 0o555)
        _run(
            ["mount", "-t", "ext4", "-o", MOUNT_OPTIONS, str(self.image), str(self.mountpoint)],
            "could not mount the /out filesystem (needs root and loop devices)",
        )

    def is_mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def unmount(self) -> None:
        """Unmount (the loop device is released with it: mount sets autoclear)."""
        if self.is_mounted():
            _run(["umount", str(self.mountpoint)], "could not unmount the /out filesystem")

    def destroy(self) -> None:
        """Unmount and delete the image; the host keeps nothing of the job's /out."""
        self.unmount()
        self.image.unlink(missing_ok=True)
        if self.mountpoint.is_dir() and not self.is_mounted():
            shutil.rmtree(self.mountpoint)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _run(command: list[str], problem: str) -> None:
    command = [_which(command[0]) or command[0], *command[1:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise OutputVolumeError(
            f"{problem} ({detail[0]})",
            "run the node as root on a host with loop devices and ext4",
        )
