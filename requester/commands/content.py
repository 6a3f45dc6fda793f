"""``requester cid`` and ``requester store …``: content addressing and the content store.

``cid`` prints what ``ipfs add`` (``ipfs add -r`` for a folder) would print, storing nothing.
``store`` works on the embedded store, or on a Kubo node when ``IPFS_API`` is set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobmarket.cli import say
from jobmarket.content.cid import Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, Importer, ImportParams
from jobmarket.content.store import IPFS_API_ENV, IPFS_DIR_ENV, ContentStore, open_store
from jobmarket.errors import InvalidInput


class CidParam(click.ParamType):
    """A CID argument; a malformed one is a one-line usage error."""

    name = "CID"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, Cid):
            return value
        try:
            return Cid.parse(str(value))
        except InvalidInput as err:
            self.fail(err.problem, param, ctx)


CID = CidParam()


def _import_options(function):
    options = [
        click.option(
            "--cid-version",
            type=click.IntRange(0, 1),
            default=1,
            show_default=True,
            help="0 gives Qm… CIDs (dag-pb leaves), 1 gives bafy…/bafk… CIDs (raw leaves).",
        ),
        click.option(
            "--raw-leaves/--no-raw-leaves",
            default=None,
            help="Store leaves as raw blocks. Default: on for --cid-version 1, off for 0.",
        ),
        click.option(
            "--chunk-size",
            type=click.IntRange(1, None),
            default=DEFAULT_CHUNK_SIZE,
            show_default=True,
            help="Bytes per leaf (Kubo's --chunker=size-N).",
        ),
        click.option(
            "--max-links",
            type=click.IntRange(2, None),
            default=DEFAULT_MAX_LINKS,
            show_default=True,
            help="Links per file node in the balanced layout.",
        ),
        click.option(
            "--hidden", is_flag=True, help="Include files and folders whose name starts with '.'."
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _params(
    cid_version: int, raw_leaves: bool | None, chunk_size: int, max_links: int, hidden: bool
) -> ImportParams:
    return ImportParams(
        cid_version=cid_version,
        raw_leaves=raw_leaves,
        chunk_size=chunk_size,
        max_links=max_links,
        hidden=hidden,
    )


@click.command("cid")
@click.argument("path", type=click.Path(allow_dash=True, path_type=Path))
@_import_options
def cid_command(path: Path, **options: object) -> None:
    """Print the CID that `ipfs add PATH` (or `ipfs add -r` for a folder) would give.

    Nothing is stored. Use - to read standard input.
    """
    importer = Importer(_params(**options))  # type: ignore[arg-type]
    node = importer.add_stream(sys.stdin.buffer) if str(path) == "-" else importer.add_path(path)
    say(str(node.cid))


@click.group("store")
@click.option(
    "--ipfs-api",
    envvar=IPFS_API_ENV,
    default=None,
    metavar="URL",
    help=f"Use a Kubo node's RPC API (env {IPFS_API_ENV}), e.g. http://127.0.0.1:5001.",
)
@click.option(
    "--ipfs-dir",
    envvar=IPFS_DIR_ENV,
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Folder of the embedded store (env {IPFS_DIR_ENV}; default: JOBMARKET_HOME/ipfs).",
)
@click.pass_context
def store_group(ctx: click.Context, ipfs_api: str | None, ipfs_dir: Path | None) -> None:
    """Add, fetch, pin and move content (embedded store, or Kubo when IPFS_API is set)."""
    store = open_store(ipfs_api=ipfs_api or "", ipfs_dir=ipfs_dir)
    ctx.obj = ctx.with_resource(store)


def _store(ctx: click.Context) -> ContentStore:
    return ctx.find_object(ContentStore)


@store_group.command("add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--pin", is_flag=True, help="Pin the content so garbage collection keeps it.")
@_import_options
@click.pass_context
def store_add(ctx: click.Context, path: Path, pin: bool, **options: object) -> None:
    """Store a file or folder; prints its CID."""
    params = _params(**options)  # type: ignore[arg-type]
    say(str(_store(ctx).add_path(path, pin=pin, params=params)))


@store_group.command("get")
@click.argument("cid", type=CID)
@click.argument("dest", type=click.Path(path_type=Path))
@click.pass_context
def store_get(ctx: click.Context, cid: Cid, dest: Path) -> None:
    """Write the file or folder CID to DEST (which must not exist), verifying every block."""
    _store(ctx).get(cid, dest)
    say(f"wrote {cid} to {dest}", err=True)


@store_group.command("cat")
@click.argument("cid", type=CID)
@click.pass_context
def store_cat(ctx: click.Context, cid: Cid) -> None:
    """Write the bytes of file CID to standard output, verifying every block."""
    out = click.get_binary_stream("stdout")
    for piece in _store(ctx).cat(cid):
        out.write(piece)
    out.flush()


@store_group.command("pin")
@click.argument("cid", type=CID)
@click.pass_context
def store_pin(ctx: click.Context, cid: Cid) -> None:
    """Pin CID and everything below it (all blocks must be present)."""
    _store(ctx).pin(cid)
    say(f"pinned {cid}")


@store_group.command("unpin")
@click.argument("cid", type=CID)
@click.pass_context
def store_unpin(ctx: click.Context, cid: Cid) -> None:
    """Remove the pin on CID (its blocks go at the next `store gc`)."""
    _store(ctx).unpin(cid)
    say(f"unpinned {cid}")


@store_group.command("ls")
@click.argument("cid", type=CID, required=False)
@click.pass_context
def store_ls(ctx: click.Context, cid: Cid | None) -> None:
    """List pinned CIDs, or the entries of directory CID (CID, size, name)."""
    store = _store(ctx)
    if cid is None:
        for pinned in store.pins():
            say(str(pinned))
        return
    for entry in store.ls(cid):
        say(f"{entry.cid} {entry.tsize} {entry.name}")


@store_group.command("export")
@click.argument("cid", type=CID)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def store_export(ctx: click.Context, cid: Cid, file: Path) -> None:
    """Write the DAG of CID to FILE as a CAR (importable with `ipfs dag import`)."""
    count = _store(ctx).export_car(cid, file)
    say(f"exported {cid} ({count} blocks) to {file}", err=True)


@store_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-pin", is_flag=True, help="Do not pin the CAR's roots.")
@click.pass_context
def store_import(ctx: click.Context, file: Path, no_pin: bool) -> None:
    """Load a CAR file (e.g. from `ipfs dag export`), verifying every block; prints its roots."""
    for root in _store(ctx).import_car(file, pin_roots=not no_pin):
        say(str(root))


@store_group.command("gc")
@click.pass_context
def store_gc(ctx: click.Context) -> None:
    """Delete blocks that no pin reaches (embedded store only)."""
    store = _store(ctx)
    if not isinstance(store, EmbeddedStore):
        raise InvalidInput(
            "garbage collection of a Kubo node is Kubo's job", "run `ipfs repo gc` on that node"
        )
    say(f"removed {store.gc()} blocks")


COMMANDS = [cid_command, store_group]
