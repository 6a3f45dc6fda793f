"""Whatever a job leaves in /out ends as a delivered, verifiable result: names the manifest
could not hold are refused at collection, every cap ends as status ``output_limit`` with its
counts in the manifest, and no job can make its honest manifest too large for a requester.

Each job runs in real Docker, is published into a real content store as the node publishes it,
fetched back and verified as a requester verifies it (``check_result_tree``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobmarket.content.embedded import EmbeddedStore
from jobmarket.errors import InvalidInput
from jobmarket.names import MAX_PATH_BYTES
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import (
    MANIFEST_RESERVED_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_OUTPUT_RECORDS_BYTES,
    MAX_REASON_CHARS,
    MAX_REFUSAL_KINDS,
    MAX_REFUSED_LISTED,
    MAX_REFUSED_PATH_CHARS,
    TAIL_CHARS,
    AppliedLimits,
    FileRecord,
    LogCapture,
    Logs,
    RefusedFile,
    ResultManifest,
    bounded_text,
    output_record_bytes,
)
from jobmarket.spec.result_dir import check_result_tree
from provider_node.executor import DockerExecutor, ExecutionStatus
from provider_node.io.results import publish_execution
from provider_node.lifecycle.policy import MAX_OUTPUT_FILES

MiB = 1024 * 1024


def test_names_the_manifest_refuses_are_refused_at_collection_and_the_result_delivered(
    executor: DockerExecutor, request_for, deliver
) -> None:
    # A backslash name was accepted by the collector and refused by FileRecord after the
    # claim (abandon, slash); a path over MAX_PATH_BYTES failed the same way.
    longest_name = "n" * 255
    too_deep = "/".join(["d" * 250] * 5)  # 1254 bytes
    script = (
        "echo bs > '/out/a\\b'; echo long > /out/$LONG;"
        'mkdir -p "/out/$DEEP" && echo deep > "/out/$DEEP/f"; echo ok > /out/ok'
    )
    result = executor.run(request_for(script, env={"LONG": longest_name, "DEEP": too_deep}))

    manifest, fetched = deliver(result)

    assert manifest.status == "succeeded"  # refusing a name is not a failure of the run
    assert [record.path for record in manifest.outputs] == [longest_name, "ok"]
    assert (fetched / "outputs" / longest_name).read_text() == "long\n"
    refused = {entry.path: entry.reason for entry in manifest.refused}
    assert refused.pop("a\\b") == "name must not contain a backslash"
    [(deep_path, reason)] = refused.items()
    assert reason.startswith(f"path is 1254 bytes; a path may have at most {MAX_PATH_BYTES}")
    assert deep_path == bounded_text(too_deep, MAX_REFUSED_PATH_CHARS)  # cut: "…" at the end
    assert manifest.refused_by_kind == {"name": 1, "path too long": 1}


def test_9987_hardlinks_with_long_names_give_a_manifest_a_requester_accepts(
    executor: DockerExecutor, request_for, deliver
) -> None:
    # Seen: every refused link listed with its full name made a manifest over 16 MiB, which
    # the requester refused ("dispute the result") although the provider was honest.
    prefix = "h" * 200
    script = (
        'echo data > /out/f; i=0; while [ $i -lt 9987 ]; do ln /out/f "/out/$P$i"; i=$((i+1));'
        " done; echo made=$i"
    )
    result = executor.run(
        request_for(script, env={"P": prefix}, max_output_files=MAX_OUTPUT_FILES, timeout_s=120)
    )
    assert result.stdout_tail == "made=9987\n"

    manifest, fetched = deliver(result)

    assert len((fetched / "manifest.json").read_bytes()) < MAX_MANIFEST_BYTES
    assert manifest.status == "output_limit"
    assert manifest.output_limit == (
        f"more than {MAX_REFUSED_LISTED} refused entries (the first {MAX_REFUSED_LISTED} listed)"
    )
    assert len(manifest.refused) == MAX_REFUSED_LISTED
    assert manifest.refused_total == 9988  # the file and its 9987 other names
    assert manifest.refused_by_kind == {"hardlink": 9988}
    assert manifest.outputs == []


@pytest.mark.parametrize(
    ("script", "limits", "limit"),
    [
        (
            "for i in $(seq 100); do echo $i > /out/f$i; done",
            {"max_output_files": 50},
            "more than 50 entries",
        ),
        (
            "echo a > /out/a; dd if=/dev/zero of=/out/b bs=1M count=2 2>/dev/null; echo c > /out/c",
            {"max_output_bytes": 1 * MiB},
            f"more than {1 * MiB} bytes",
        ),
        (
            "echo top > /out/a-top; p=/out; for i in $(seq 10); do p=$p/d; mkdir $p; done",
            {"max_output_depth": 4},
            "deeper than 4 levels",
        ),
    ],
    ids=["files", "bytes", "depth"],
)
def test_every_output_cap_ends_as_a_delivered_result_with_its_counts(
    executor: DockerExecutor, request_for, deliver, script: str, limits: dict, limit: str
) -> None:
    result = executor.run(request_for(script, **limits))
    assert result.status == ExecutionStatus.OUTPUT_LIMIT

    manifest, fetched = deliver(result)

    assert manifest.status == "output_limit" and manifest.output_limit == limit
    assert manifest.refused_by_kind == {"over a cap": 1} and manifest.refused_total == 1
    assert manifest.refused[-1].reason == f"not collected: {limit}"
    assert [r.path for r in manifest.outputs] == [f.path for f in result.outputs]
    assert all((fetched / "outputs" / r.path).is_file() for r in manifest.outputs)


def test_the_largest_manifest_a_node_can_write_is_below_what_a_requester_accepts() -> None:
    """The worst case, built from the bounds: every field at its longest, written with the
    characters that cost the most bytes in JSON."""
    quote_path = "/".join(['"' * 255] * 4)  # 1023 bytes, each 2 bytes in JSON
    cid = "bafybei" + "a" * 52
    record = FileRecord(path=quote_path, size=10**19, sha256="f" * 64, cid=cid)
    records = [record] * (MAX_OUTPUT_RECORDS_BYTES // output_record_bytes(quote_path))
    wide = "\U0001f600"  # 4 bytes of UTF-8
    control = "\x01"  # 6 bytes in JSON (\u0001): log tails are not escaped
    refused = [RefusedFile.bounded(wide * 5000, wide * 5000)] * MAX_REFUSED_LISTED
    log_record = FileRecord(path="stdout.log", size=10**19, sha256="f" * 64, cid=cid)
    capture = LogCapture(truncated=True, dropped_bytes=10**19, complete=False)
    limits = AppliedLimits(
        cpu=1e9, memory_mb=10**12, pids=10**12, timeout_s=10**12, network="bridge",
        read_only_root=True, user="u" * 64, tmpfs_mb=10**12, max_output_bytes=10**19,
        max_output_files=10**12,
    )  # fmt: skip
    arguments = dict(
        job_id=2**256 - 1,
        spec_cid=cid,
        status="output_limit",
        exit_code=-(2**31),
        runtime_s=1e300,
        started_at="2026-01-01T00:00:00.123456+00:00",
        finished_at="2026-01-01T00:00:00.123456+00:00",
        image_id="sha256:" + "f" * 64,
        limits=limits,
        refused=refused,
        refused_total=10**19,
        refused_by_kind={f"{k:02d}" + wide * 62: 10**19 for k in range(MAX_REFUSAL_KINDS)},
        output_limit=bounded_text(wide * 1000, MAX_REASON_CHARS),
        logs=Logs(
            cid=cid,
            stdout=log_record,
            stderr=log_record,
            stdout_tail=control * TAIL_CHARS,
            stderr_tail=control * TAIL_CHARS,
            stdout_capture=capture,
            stderr_capture=capture,
        ),
    )
    without_outputs = len(ResultManifest(**arguments).to_json())
    document = ResultManifest(**arguments, outputs=records).to_json()

    assert without_outputs <= MANIFEST_RESERVED_BYTES
    assert len(document) - without_outputs <= MAX_OUTPUT_RECORDS_BYTES
    assert len(document) <= MAX_MANIFEST_BYTES
    assert ResultManifest.parse(document).refused_total == 10**19  # the requester reads it


class RefusingStore(EmbeddedStore):
    """Stand-in (fault injection): a store that refuses any result holding outputs, as the
    importer once refused a directory too large for one block. The real store no longer
    refuses what the collector keeps, so the fault has to be made."""

    def add_dir(self, path, **kwargs):
        if any((Path(path) / "outputs").iterdir()):
            raise InvalidInput("directory too large for one block")
        return super().add_dir(path, **kwargs)


def test_outputs_a_store_refuses_still_end_as_a_delivered_result(
    executor: DockerExecutor, request_for, tmp_path: Path, job_image: str
) -> None:
    result = executor.run(request_for("echo out > /out/a; echo done"))
    store = RefusingStore(tmp_path / "store", fsync=False)
    spec = JobSpec(image=job_image, command=["sh"])

    cid, manifest = publish_execution(
        store, result, job_id=3, spec=spec, spec_cid=spec.cid, folder=tmp_path / "r" / "3"
    )
    store.get(cid, tmp_path / "fetched")

    assert check_result_tree(tmp_path / "fetched", job_id=3) == manifest
    assert manifest.status == "output_limit" and manifest.outputs == []
    assert manifest.output_limit == (
        "the outputs could not be published: directory too large for one block"
    )
    assert manifest.logs.stdout_tail == "done\n"  # the requester still gets the logs
    assert not (tmp_path / "r").exists() or list((tmp_path / "r").iterdir()) == []
