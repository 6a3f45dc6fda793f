"""The content store interface both sides use, and the choice of backend.

Two backends implement :class:`ContentStore`:

* :class:`~jobmarket.content.embedded.EmbeddedStore` (default): blocks in a folder under
  ``jobmarket.paths.home()/ipfs`` (``JOBMARKET_IPFS_DIR`` overrides it). No daemon needed.
* :class:`~jobmarket.content.kubo.KuboStore`: a Kubo node's RPC API, used when ``IPFS_API``
  is set (``http://127.0.0.1:5001`` or Kubo's multiaddr form ``/ip4/127.0.0.1/tcp/5001``).

Reads are *trustless* in both: every block is hashed against the CID it was requested by,
and file and directory structure is checked (see :mod:`jobmarket.content.reader`), so what
``cat`` and ``get`` deliver is exactly the content the CID names or an error.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path

from jobmarket.content import reader
from jobmarket.content.car import write_car
from jobmarket.content.cid import Cid
from jobmarket.content.importer import EntryCallback, ImportParams
from jobmarket.content.ipld import AnyCid
from jobmarket.durations import parse_duration
from jobmarket.errors import InvalidInput, NotFound
from jobmarket.fileio import partial_sibling

IPFS_API_ENV = "IPFS_API"
# What a hold may be called: a name that is also one safe path component (a Kubo MFS folder).
_HOLD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
IPFS_DIR_ENV = "JOBMARKET_IPFS_DIR"
# How long a Kubo request (and Kubo's own search for a missing block) may take, e.g. "30s".
IPFS_TIMEOUT_ENV = "JOBMARKET_IPFS_TIMEOUT"


class ContentStore(ABC):
    """Add, read, pin and move UnixFS content; CIDs are identical to Kubo's ``ipfs add``."""

    #: Where the content lives, for messages ("/home/u/.local/share/jobmarket/ipfs", a URL).
    location: str

    # -- writing -----------------------------------------------------------------------------

    @abstractmethod
    def add_bytes(
        self, data: bytes, *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        """Store ``data`` as one UnixFS file (a single raw block when it fits one chunk)."""

    @abstractmethod
    def add_file(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        """Store a file, streaming it in constant memory."""

    @abstractmethod
    def add_dir(
        self,
        path: str | os.PathLike[str],
        *,
        pin: bool = False,
        params: ImportParams | None = None,
        on_entry: EntryCallback | None = None,
    ) -> Cid:
        """Store a folder as ``ipfs add -r`` would (hidden entries only with ``hidden=True``)."""

    @abstractmethod
    def add_symlink(
        self, path: str | os.PathLike[str], *, pin: bool = False, params: ImportParams | None = None
    ) -> Cid:
        """Store the symbolic link at ``path`` as a UnixFS Symlink node (never followed)."""

    def add_path(
        self,
        path: str | os.PathLike[str],
        *,
        pin: bool = False,
        params: ImportParams | None = None,
        on_entry: EntryCallback | None = None,
    ) -> Cid:
        """``add_dir`` for a folder, ``add_symlink`` for a symbolic link (the link itself, not
        its target, as ``ipfs add LINK`` stores it), ``add_file`` for anything else."""
        if Path(path).is_symlink():
            return self.add_symlink(path, pin=pin, params=params)
        if Path(path).is_dir():
            return self.add_dir(path, pin=pin, params=params, on_entry=on_entry)
        return self.add_file(path, pin=pin, params=params)

    # -- reading -----------------------------------------------------------------------------

    @abstractmethod
    def get_block(self, cid: Cid) -> bytes:
        """One block, verified against ``cid``."""

    @abstractmethod
    def has(self, cid: Cid) -> bool:
        """Whether the block ``cid`` is available without fetching it from the network."""

    def cat(self, cid: Cid) -> Iterator[bytes | memoryview]:
        """The bytes of a file, streamed in order; every block verified before it is yielded."""
        return reader.iter_file(self.get_block, cid)

    def ls(self, cid: Cid) -> list[reader.Entry]:
        """Entries of a basic or HAMT-sharded directory (names and shards already checked)."""
        return reader.list_directory(self.get_block, cid)

    def get(
        self,
        cid: Cid,
        destination: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        symlinks: bool = False,
    ) -> Path:
        """Write a file or directory tree to ``destination`` (which must not exist yet).

        All or nothing: the tree is verified while written to a temporary sibling and only
        then renamed into place. Entry names outside :mod:`jobmarket.names` (``..``, ``a/b``,
        control characters, …) are refused;
        ``max_bytes`` and ``symlinks`` as in :func:`reader.write_tree`.
        """
        target = Path(destination)
        reader.write_tree(self.get_block, cid, target, max_bytes=max_bytes, symlinks=symlinks)
        return target

    # -- pins and archives -------------------------------------------------------------------

    @abstractmethod
    def pin(self, cid: Cid) -> None:
        """Keep the whole DAG under ``cid`` (fails if any block is missing)."""

    @abstractmethod
    def unpin(self, cid: Cid) -> None:
        """Stop keeping ``cid``; its blocks may be removed by the next garbage collection."""

    @abstractmethod
    def pins(self) -> list[AnyCid]:
        """Recursively pinned roots."""

    # -- holds: content kept from garbage collection while something needs it ---------------

    @abstractmethod
    def hold(self, name: str, roots: Sequence[AnyCid]) -> None:
        """Keep the DAGs under ``roots`` (present now) from any garbage collection until
        :meth:`drop` of ``name``; holding ``name`` again replaces its roots.

        Unlike a pin (one per CID, so one holder's unpin would take it from another), each
        hold has its own name: a provider holds a job's inputs from the check before its claim
        until they are staged, whoever else pins or holds the same content.
        """

    @abstractmethod
    def drop(self, name: str) -> None:
        """Let the content held under ``name`` go (nothing held under it: nothing to do)."""

    @abstractmethod
    def held(self, prefix: str) -> list[str]:
        """The names of the holds that start with ``prefix``."""

    def release(self, roots: Iterable[Cid]) -> int:
        """Unpin ``roots`` (those not pinned are skipped) and let their blocks go.

        Here, and on a Kubo node, the node's own garbage collection removes the blocks later;
        the embedded store deletes at once every block of theirs that no remaining pin
        reaches. Returns how many blocks were deleted now.
        """
        for root in roots:
            with suppress(NotFound):
                self.unpin(root)
        return 0

    def export_car(self, root: Cid, path: str | os.PathLike[str]) -> int:
        """Write the DAG under ``root`` as a CARv1 (same block order as ``ipfs dag export``).

        Returns the number of blocks written. The file is written to a temporary name and
        renamed, so a failed export never leaves a truncated CAR behind.
        """
        target = Path(path)
        temporary = partial_sibling(target)
        try:
            with open(temporary, "wb") as out:
                count = write_car(out, [root], reader.walk(self.get_block, root))
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return count

    @abstractmethod
    def import_car(self, path: str | os.PathLike[str], *, pin_roots: bool = True) -> list[AnyCid]:
        """Load every block of a CAR (each verified) and pin its roots; returns the roots."""

    def close(self) -> None:  # noqa: B027 - optional hook; most stores hold nothing open
        """Release network connections or file handles, if any."""

    def __enter__(self) -> ContentStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def link_target(path: str | os.PathLike[str]) -> str:
    """What the symbolic link at ``path`` points to (InvalidInput when it is not a link)."""
    try:
        return os.readlink(path)
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist; check the path") from None
    except OSError as err:
        raise InvalidInput(f"{path} is not a readable symbolic link: {err.strerror}") from None


def open_store(
    *, ipfs_api: str | None = None, ipfs_dir: str | os.PathLike[str] | None = None
) -> ContentStore:
    """The configured store: Kubo when ``IPFS_API`` (or ``ipfs_api``) is set, else embedded."""
    api = ipfs_api if ipfs_api is not None else os.environ.get(IPFS_API_ENV, "").strip()
    if api:
        from jobmarket.content.kubo import DEFAULT_TIMEOUT_S, KuboStore

        timeout = os.environ.get(IPFS_TIMEOUT_ENV, "").strip()
        seconds = parse_duration(timeout, what=IPFS_TIMEOUT_ENV) if timeout else DEFAULT_TIMEOUT_S
        return KuboStore(api, timeout=float(seconds))
    from jobmarket.content.embedded import EmbeddedStore

    folder = ipfs_dir if ipfs_dir is not None else os.environ.get(IPFS_DIR_ENV, "").strip()
    return EmbeddedStore(Path(folder).expanduser() if folder else None)


def check_hold_name(name: str) -> str:
    """``name`` if it may name a hold (letters, digits, ``.``, ``_``, ``-``; up to 128)."""
    if not _HOLD_NAME.fullmatch(name):
        raise InvalidInput(
            f"{name[:140]!r} cannot name a hold",
            "use letters, digits, '.', '_' and '-' (up to 128 characters)",
        )
    return name
