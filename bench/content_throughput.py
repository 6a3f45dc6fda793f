"""Importer throughput: how fast we compute Kubo-identical CIDs for a 100 MB file.

Prints ``importer_mb_per_s=N`` (goal: ≥ 300) for CID computation (`requester cid`,
CIDv1 raw leaves, 256 KiB chunks), plus the same for CIDv0 and for a full `store add` into
the embedded store (hashing, block files, one filesystem sync). With Kubo built (`make kubo`)
it also prints `kubo_add_mb_per_s` (Kubo's own `ipfs add`, same options, fresh repo) and
`store_vs_kubo_ratio` (Kubo's default repository does not sync block files; ours syncs once
per add), the two measured alternately under the same conditions (see ``_add_seconds``).
MB here means 10**6 bytes. The best of several runs is reported, as the first run also warms
the page cache.

Then a flat folder of 100,000 one-byte files (a job with many outputs; Kubo shards it as a
HAMT): ``hamt_import_entries_per_s`` is the rate of `requester cid` on that folder (reading
every file included), ``hamt_build_entries_per_s`` the sharded directory alone (hashing the
names, building and hashing every shard), ``hamt_list_entries_per_s`` listing it back from
the embedded store with every shard verified.

    python -m bench.content_throughput [--size-mb 100] [--runs 3] [--add-runs 5]
                                       [--hamt-entries 100000]

``--add-runs`` rounds of the two adds (each round one of each, the order alternating), as both
vary with what else the machine does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import ImportedNode, Importer, ImportParams


def _best(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--add-runs", type=int, default=5)
    parser.add_argument("--hamt-entries", type=int, default=100_000)
    args = parser.parse_args()
    size = args.size_mb * 1_000_000

    with tempfile.TemporaryDirectory(prefix="bench-content-") as scratch:
        source = Path(scratch) / "input.bin"
        with open(source, "wb") as out:
            remaining = size
            while remaining:
                piece = os.urandom(min(remaining, 1 << 24))
                out.write(piece)
                remaining -= len(piece)
        mb = size / 1e6

        v1 = _best(args.runs, lambda: Importer(ImportParams(cid_version=1)).add_file(source))
        v0 = _best(args.runs, lambda: Importer(ImportParams(cid_version=0)).add_file(source))

        stored, kubo = _add_seconds(source, Path(scratch), max(1, args.add_runs))
        hamt = _hamt_rates(Path(scratch), args.hamt_entries, args.runs)

    print(f"file_mb={mb:g}")
    print(f"importer_mb_per_s={mb / v1:.0f}")
    print(f"importer_v0_mb_per_s={mb / v0:.0f}")
    print(f"store_add_mb_per_s={mb / stored:.0f}")
    print(f"goal_importer_mb_per_s=300 met={'yes' if mb / v1 >= 300 else 'no'}")
    if kubo is not None:
        print(f"kubo_add_mb_per_s={mb / kubo:.0f}")
        print(f"store_vs_kubo_ratio={kubo / stored:.2f}")
    print(f"hamt_entries={args.hamt_entries}")
    for name, seconds in hamt.items():
        print(f"hamt_{name}_entries_per_s={args.hamt_entries / seconds:.0f}")
    return 0


def _hamt_rates(scratch: Path, entries: int, runs: int) -> dict[str, float]:
    """Seconds (best of ``runs``) to import, build and list a flat ``entries``-file folder."""
    folder = scratch / "many-outputs"
    folder.mkdir()
    for index in range(entries):
        descriptor = os.open(folder / f"out{index:06d}.txt", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(descriptor, bytes((index % 251,)))
        os.close(descriptor)
    imported = _best(runs, lambda: Importer(ImportParams(cid_version=1)).add_path(folder))
    leaf = Importer().add_bytes(b"x")
    children = [(f"out{index:06d}.txt".encode(), leaf) for index in range(entries)]
    built: list[ImportedNode] = []
    build = _best(runs, lambda: built.append(Importer().directory_node(children)))
    store = EmbeddedStore(scratch / "hamt-store", fsync=False)
    root = store.add_dir(folder)
    listed = _best(runs, lambda: store.ls(root))
    return {"import": imported, "build": build, "list": listed}


KUBO = Path(__file__).resolve().parents[1] / ".kubo" / "bin" / "ipfs"


def _add_seconds(source: Path, scratch: Path, runs: int) -> tuple[float, float | None]:
    """Best seconds of ``store add`` and of Kubo's ``ipfs add`` (None without Kubo), measured
    alternately (ABBA) so both see the same machine, each into a fresh repository.

    The same conditions for both: the input is in the page cache (the importer runs read it),
    the filesystem is synced before each timed add so neither pays for earlier writes (our add
    syncs, which would otherwise also flush the input file and Kubo's unsynced blocks), and
    repositories are removed only at the end: ext4 without a journal skips inodes deleted in
    the last minute (or more) when it allocates new ones, so removing one run's 700 files and
    folders would slow the next run's creates. Each time covers the add alone: Kubo's includes
    starting its process and opening the repository, ours opening the store; neither includes
    creating (``ipfs init``) or removing the repository.
    """
    kubo_ok = os.access(KUBO, os.X_OK)
    if not kubo_ok:
        print(f"kubo_add_mb_per_s: not measured, no Kubo at {KUBO} (make kubo)", file=sys.stderr)
    add = [str(KUBO), "add", "-Q", "--pin=false", "--cid-version=1", "--raw-leaves=true"]
    add += ["--chunker=size-262144", str(source)]
    stored = kubo = float("inf")
    for run in range(runs):
        for contender in ("store", "kubo") if run % 2 == 0 else ("kubo", "store"):
            if contender == "store":
                os.sync()
                started = time.perf_counter()
                EmbeddedStore(scratch / f"store-{run}").add_file(source)
                stored = min(stored, time.perf_counter() - started)
            elif kubo_ok:
                repo = str(scratch / f"kubo-{run}")
                env = {**os.environ, "IPFS_PATH": repo, "IPFS_TELEMETRY": "off"}
                init = [str(KUBO), "init", "--profile=test", "--empty-repo"]
                subprocess.run(init, env=env, check=True, capture_output=True)
                os.sync()
                started = time.perf_counter()
                subprocess.run(add, env=env, check=True, capture_output=True)
                kubo = min(kubo, time.perf_counter() - started)
    return stored, kubo if kubo_ok else None


if __name__ == "__main__":
    raise SystemExit(main())
