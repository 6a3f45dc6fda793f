"""The requester's verbs, written once for the ``requester`` CLI and the ape scripts.

Each function takes a connected :class:`~requester.api.Requester` and the user's raw option
values, does the work through the API and prints text for people or, with ``as_json``, one
JSON document on standard output. Parsing happens inside the API, so a bad value raises the
same :class:`~jobmarket.errors.UserError` whichever front end called.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import click

from jobmarket.chain.rpc import with_retries
from jobmarket.chain.states import JobState
from jobmarket.cli import json_text, say
from jobmarket.errors import InvalidInput, UserError
from jobmarket.sizes import parse_size
from jobmarket.spec.result import ResultManifest
from jobmarket.spec.result_dir import DEFAULT_MAX_RESULT_BYTES
from jobmarket.terminal import printable
from requester.api import Requester
from requester.durations import parse_duration
from requester.errors import ActionNotAllowed
from requester.history import JobStep
from requester.job import Job
from requester.node_api import follow_logs, provider_view
from requester.progress import JobProgress, WatchProgress
from requester.render import (
    estimate_text,
    jobs_table,
    provider_view_text,
    providers_table,
    results_text,
    status_text,
    to_json_text,
    tx_line,
)
from requester.status import JobStatus

#: ``--until`` choices of ``wait``: the awaited state, or ``settled`` (any terminal state).
UNTIL_CHOICES = ("claimed", "submitted", "settled")


def announce_transaction(function: str, tx_hash: str) -> None:
    """The hash of a transaction about to be sent, on stderr (stdout may carry JSON)."""
    click.echo(f"sending {function} transaction {tx_hash}", err=True)


def emit(as_json: bool, document: Any, text: str) -> None:
    """Print ``document`` as JSON or ``text`` for people, on standard output."""
    if as_json:
        click.echo(to_json_text(document))  # json.dumps escapes every control character
    else:
        say(text)


def progress_stream(as_json: bool) -> tuple[TextIO, bool]:
    """Where progress goes and whether it may redraw: stdout, or stderr when stdout is JSON."""
    stream = sys.stderr if as_json else sys.stdout
    return stream, stream.isatty()


def _until(choice: str | None) -> Any:
    if choice is None:
        return None
    if choice not in UNTIL_CHOICES:
        choices = ", ".join(UNTIL_CHOICES)
        raise InvalidInput(f"cannot wait until {choice!r}", f"use one of {choices}")
    if choice == "settled":
        return lambda status: status.is_terminal
    return JobState[choice.upper()]


def _settle_line(status: JobStatus) -> str:
    line = f"job {status.job_id} is {status.state.name}"
    return line if status.is_terminal else f"{line}; waiting on {status.waiting_on}"


def _results_json(manifest: ResultManifest, destination: Path) -> dict[str, Any]:
    return {
        "destination": str(destination),
        "verified": True,
        "manifest": manifest.model_dump(mode="json", exclude_none=True),
    }


def follow(job: Job, *, until: Any = None, timeout: str | None, as_json: bool) -> JobStatus:
    """``Job.wait`` with the live progress view (on stderr when stdout carries JSON)."""
    stream, live = progress_stream(as_json)
    progress = JobProgress(stream, live=live)
    try:
        return job.wait(
            until=until,
            on_step=progress.on_step,
            on_tick=progress.on_tick,
            timeout=parse_duration(timeout, what="wait timeout") if timeout else None,
        )
    finally:
        progress.close()


def parse_env(items: tuple[str, ...] | list[str]) -> dict[str, str] | None:
    variables = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"cannot read --env {item!r}", "write NAME=VALUE")
        variables[name] = value
    return variables or None


def post(
    requester: Requester,
    *,
    as_json: bool,
    spec: Path | None,
    env: tuple[str, ...],
    wait: bool,
    fetch: Path | None,
    accept: bool,
    wait_timeout: str | None,
    job_timeout: str | None,
    max_size: str | None = None,
    designated: str | None = None,
    **options: Any,
) -> None:
    """Post; with ``wait``/``fetch``/``accept`` follow it to a verified, accepted result."""
    if accept and fetch is None:
        raise InvalidInput(
            "--accept needs --fetch DIR",
            "a result is accepted only once it is downloaded and verified",
        )
    if fetch is not None and (fetch.exists() or fetch.is_symlink()):
        raise InvalidInput(
            f"{fetch} already exists", "give --fetch a folder that does not exist yet"
        )
    fetch_limit = parse_size(max_size or DEFAULT_MAX_RESULT_BYTES, what="maximum result size")
    job = requester.post(
        spec,
        env=parse_env(env),
        timeout=job_timeout,
        provider=designated,
        **options,
    )
    status = job.status()
    report: dict[str, Any] = {
        "job_id": job.id,
        "spec_cid": str(status.spec_cid),
        "transactions": [record.to_json() for record in job.transactions],
        "status": status.to_json(),
    }
    if not as_json:
        say(f"posted job {job.id} (spec {status.spec_cid})")
        for record in job.transactions:  # an approve, on a token market, then the post
            say(tx_line(record))
    if wait or fetch is not None:
        status = follow(job, timeout=wait_timeout, as_json=as_json)
        report["status"] = status.to_json()
        if not as_json:
            say(_settle_line(status))
    if fetch is not None:
        if status.result_cid is None:
            raise ActionNotAllowed(
                f"job {job.id} ended {status.state.name} without a result", "nothing to fetch"
            )
        manifest = job.results(fetch, max_size=fetch_limit)
        report["results"] = _results_json(manifest, fetch)
        if not as_json:
            say(results_text(manifest, fetch))
        if accept:
            if manifest.status != "succeeded":
                if as_json:
                    emit(True, report, "")
                raise UserError(
                    f"job {job.id} ran but ended '{manifest.status}' (exit code "
                    f"{manifest.exit_code}); it was not accepted",
                    f"read {fetch}/logs/stderr.log, then `requester accept {job.id}` "
                    f"or `requester dispute {job.id}`",
                )
            record = job.accept()
            status = job.status()
            report["transactions"].append(record.to_json())
            report["status"] = status.to_json()
            if not as_json:
                say(tx_line(record))
                say(_settle_line(status))
    if as_json:
        emit(True, report, "")


def status(requester: Requester, *, as_json: bool, job_id: str) -> None:
    """The job as the chain has it and, when its provider publishes a node API, as the
    provider's node sees it (an API that does not answer is one line, never a failure)."""
    job = requester.job(job_id)
    current = with_retries(lambda: job.status(outcome=True), f"reading job {job_id}")
    view = provider_view(requester, current)
    document = {**current.to_json(), "provider_api": view.to_json() if view else None}
    text = status_text(current)
    if view is not None:
        text += "\n" + provider_view_text(view)
    emit(as_json, document, text)


def wait(
    requester: Requester, *, as_json: bool, job_id: str, until: str | None, timeout: str | None
) -> None:
    job = requester.job(job_id)
    final = follow(job, until=_until(until), timeout=timeout, as_json=as_json)
    emit(as_json, final.to_json(), _settle_line(final))


def results(
    requester: Requester,
    *,
    as_json: bool,
    job_id: str,
    destination: Path | None,
    max_size: str | None = None,
    gateway: str | None = None,
) -> None:
    job = requester.job(job_id)
    target = destination or Path(f"job-{job.id}-result")
    manifest = job.results(target, max_size=max_size or DEFAULT_MAX_RESULT_BYTES, gateway=gateway)
    emit(as_json, _results_json(manifest, target), results_text(manifest, target))


def act(requester: Requester, action: str, *, as_json: bool, job_id: str, **options: Any) -> None:
    """One move (:class:`~requester.moves.Action`) on a job, then its new state and costs;
    ``options`` are the move's own (a dispute's ``reason``, the arbiter's ``provider_share``)."""
    job = requester.job(job_id)
    record = getattr(job, action)(**{k: v for k, v in options.items() if v is not None})
    after = job.status()
    document = {
        "job_id": job.id,
        "transaction": record.to_json(),
        "state": after.state.name,
        "costs": after.costs.to_json(),
    }
    emit(as_json, document, f"{tx_line(record)}\n{_settle_line(after)}")


def logs(
    requester: Requester,
    *,
    as_json: bool,
    job_id: str,
    stderr: bool,
    tail: int | None,
    follow: bool = False,
) -> None:
    """A job's stdout (or stderr) from its verified result, escaped for the terminal; with
    ``follow``, a job not delivered yet is streamed live from its provider's node API."""
    stream = "stderr" if stderr else "stdout"
    if tail is not None and tail < 0:
        raise InvalidInput(f"--tail {tail} is negative", "give a number of lines, e.g. --tail 20")
    job = requester.job(job_id)
    if follow and not _delivered(job):
        if tail is not None:
            raise InvalidInput(
                "--tail applies to a delivered result's logs, not to --follow",
                "drop --tail to follow the running job",
            )
        shown, end = _follow_logs(job, stream, as_json)
        if shown or not _delivered(job):
            click.echo(f"job {job.id}: {printable(end[:200])}", err=True)
            return
        # Delivered before the stream saw a line: its logs are the verified result's.
    text = job.logs(stream).decode("utf-8", "replace")
    lines = text.split("\n")  # not splitlines: \r, \x85 must stay visible, escaped
    if lines and lines[-1] == "":
        lines.pop()
    if tail is not None:
        lines = lines[-tail:] if tail else []
    if as_json:
        emit(True, {"job_id": int(job_id), "stream": stream, "lines": lines}, "")
    else:
        for line in lines:
            say(printable(line))


def _delivered(job: Job) -> bool:
    """Whether a result was submitted (its logs are read from it, verified)."""
    job.status()  # reads the job's events up to now
    return job.feed.last_result() is not None


def _follow_logs(job: Job, stream: str, as_json: bool) -> tuple[int, str]:
    """Print the running job's ``stream`` live until its container ends (JSON Lines with
    ``as_json``); how many records came, and the node's closing word."""
    shown = 0

    def show(record: dict[str, Any]) -> None:
        nonlocal shown
        shown += 1
        if record["stream"] != stream:
            return
        if record.get("skipped"):
            click.echo(f"({stream}: the node kept only the last bytes; lines skipped)", err=True)
        elif as_json:
            click.echo(json_text({"job_id": job.id, "stream": stream, "line": record["line"]}))
        else:
            say(printable(record["line"]))

    end = follow_logs(job, show)
    return shown, end


def jobs(requester: Requester, *, as_json: bool, active: bool) -> None:
    summaries = requester.jobs(active_only=active)
    emit(as_json, [summary.to_json() for summary in summaries], jobs_table(summaries))


def providers(requester: Requester, *, as_json: bool) -> None:
    listings = requester.providers()
    emit(as_json, [listing.to_json() for listing in listings], providers_table(listings))


def estimate(
    requester: Requester,
    *,
    as_json: bool,
    spec: Path | None,
    job_timeout: str | None,
    designated: str | None = None,
    **options: Any,
) -> None:
    result = requester.estimate(spec, timeout=job_timeout, provider=designated, **options)
    emit(as_json, result.to_json(), estimate_text(result))


def watch(requester: Requester, *, as_json: bool, until_settled: bool, timeout: str | None) -> None:
    """All unsettled jobs live; with ``as_json`` one JSON object per step (JSON Lines)."""
    stream, live = progress_stream(as_json)
    progress = WatchProgress(stream, live=live, me=requester.address)

    def on_step(step: JobStep) -> None:
        if as_json:
            click.echo(json_text({"job_id": step.job_id, **step.to_json()}))
        else:
            progress.on_step(step)

    try:
        states = requester.watch(
            on_step=on_step,
            on_tick=None if as_json else progress.on_tick,
            on_start=None if as_json else progress.on_start,
            until_settled=until_settled,
            timeout=parse_duration(timeout, what="watch timeout") if timeout else None,
        )
    finally:
        progress.close()
    if not as_json:
        active = [job for job, state in states.items() if not state.is_terminal]
        say(f"{len(states)} job(s) followed, {len(active)} still active")
