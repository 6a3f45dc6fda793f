"""The requester's side of a provider node's API: its view of a job, a running job's live logs.

A provider that runs ``provider-node run --api-listen`` publishes the API's URL in its
capability document (``api_url``). This module finds it (the claimer's document, or the
designated provider's while nobody claimed), and

* :func:`provider_view` asks ``GET /v1/jobs/{id}`` for ``requester status``: never fails the
  command — an API that does not answer is one line, "provider API: unreachable (…)";
* :func:`follow_logs` streams ``GET /v1/jobs/{id}/logs?follow=1`` for ``requester logs
  --follow``, signed by the requester's account (EIP-191 over
  :func:`jobmarket.node_api.logs_message`), until the job's container ends.

Everything the node sends is hostile input: documents are read up to
:data:`~jobmarket.node_api.MAX_DOCUMENT_BYTES`, stream lines up to a bound, records that are
not what they should be are dropped, and the text is printed escaped by the callers. The URL
a provider published is aimed at like any URL a counterpart wrote
(:func:`jobmarket.content.fetch.check_fetch_target`): not at private or loopback addresses
unless ``JOBMARKET_FETCH_PRIVATE=1`` or the chain is a local development chain.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from jobmarket.chain.rpc import is_local_chain
from jobmarket.chain.states import JobState
from jobmarket.content.fetch import (
    check_fetch_target,
    private_targets_allowed,
    public_only_transport,
)
from jobmarket.errors import Unreachable, UserError
from jobmarket.node_api import (
    HEARTBEAT_S,
    MAX_DOCUMENT_BYTES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    job_path,
    logs_message,
    logs_path,
)
from jobmarket.terminal import printable
from requester.errors import ActionNotAllowed

if TYPE_CHECKING:
    from requester.api import Requester
    from requester.job import Job
    from requester.status import JobStatus

_CONNECT_S = 5.0
_READ_S = 10.0
#: The whole answer of ``GET /v1/jobs/{id}``, however slowly a node sends it (the read timeout
#: is per read: a byte every few seconds would otherwise hold ``requester status`` for hours).
VIEW_DEADLINE_S = 20.0
#: A followed log stream ends at the latest this long after the job's work deadline (the node
#: stops its container before that deadline; a node that streams on is not believed).
FOLLOW_GRACE_S = 60.0
# A JSON-encoded log line may be six times its bytes (\u escapes) plus the record around it.
_MAX_RECORD_BYTES = 8 * 64 * 1024
_STREAMS = ("stdout", "stderr")
# States in which the job has a submitted result (its logs are read from it, verified).
_DELIVERED = frozenset(
    {JobState.SUBMITTED, JobState.DISPUTED, JobState.ACCEPTED, JobState.RESOLVED}
)


class NodeApiError(UserError):
    """The provider's API refused or failed a request (its one-line answer is the problem)."""


@dataclass(frozen=True)
class ProviderView:
    """What ``requester status`` shows of the provider's API: its answer, or why there is none."""

    provider: str
    url: str
    document: dict[str, Any] | None
    problem: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "url": self.url,
            "view": self.document,
            "problem": self.problem,
        }


class NodeApiClient:
    """Requests to one provider node's API."""

    def __init__(self, url: str, *, allow_private: bool = False) -> None:
        self.url = url.rstrip("/")
        self.allow_private = allow_private

    def _client(self, read_s: float) -> httpx.Client:
        check_fetch_target(self.url, allow_private=self.allow_private)
        return httpx.Client(
            timeout=httpx.Timeout(_READ_S, connect=_CONNECT_S, read=read_s),
            follow_redirects=False,
            trust_env=False,
            transport=public_only_transport(self.allow_private),  # checked again at connect
        )

    def job_view(self, job_id: int) -> dict[str, Any]:
        """The node's view of job ``job_id`` (NodeApiError: the node's refusal)."""
        url = self.url + job_path(job_id)
        until = time.monotonic() + VIEW_DEADLINE_S
        with (
            self._client(_READ_S) as client,
            _reaching(self.url),
            client.stream("GET", url) as response,
        ):
            document = _json_object(_bounded_body(response, until, self.url))
            if response.status_code != 200:
                raise NodeApiError(_refusal_text(response.status_code, document))
            if document is None:
                raise NodeApiError("the provider's API answered something other than JSON")
            return document

    def logs(
        self, job_id: int, headers: dict[str, str], *, follow: bool, until: float | None = None
    ) -> Iterator[dict]:
        """The log stream's records, each a JSON object (the first one names the job);
        ``until``: the ``time.monotonic()`` past which no record is believed (Unreachable)."""
        with self._client(HEARTBEAT_S * 4) as client, _reaching(self.url):
            url = self.url + logs_path(job_id, follow=follow)
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    deadline = time.monotonic() + VIEW_DEADLINE_S
                    document = _json_object(_bounded_body(response, deadline, self.url))
                    raise NodeApiError(_refusal_text(response.status_code, document))
                for raw in _bounded_lines(response.iter_bytes(), until, self.url):
                    record = _json_object(raw)
                    if record is not None:
                        yield record


def signed_headers(requester: Requester, job_id: int, provider: str) -> dict[str, str]:
    """The headers that open job ``job_id``'s logs on ``provider``'s node: the requester's
    EIP-191 signature over the job, market, chain, provider and the time now."""
    signer = requester.signer
    sign_message = getattr(signer, "sign_message", None)
    if sign_message is None:
        raise UserError(
            f"the account {signer.address} cannot sign messages here",
            "use an ape account or TEST::N to read live logs",
        )
    stamp = int(time.time())
    client = requester.client
    text = logs_message(
        job_id, market=client.address, chain_id=client.chain_id, provider=provider, timestamp=stamp
    )
    return {SIGNATURE_HEADER: sign_message(text), TIMESTAMP_HEADER: str(stamp)}


def api_client(requester: Requester, provider: str) -> NodeApiClient | None:
    """A client for ``provider``'s published API, or None when it publishes none."""
    from requester.providers import find_provider

    listing = find_provider(requester.client, requester._store_or_none(), provider)
    if listing is None or listing.capabilities is None or not listing.capabilities.api_url:
        return None
    allow = private_targets_allowed() or is_local_chain(requester.client.chain_id)
    return NodeApiClient(listing.capabilities.api_url, allow_private=allow)


def asked_provider(status: JobStatus) -> str | None:
    """Whose node knows the job best: the claimer, else the designated provider."""
    return status.view.provider or status.view.designated


def provider_view(requester: Requester, status: JobStatus) -> ProviderView | None:
    """The provider's view of the job for ``requester status`` (None: no provider to ask, or it
    publishes no API). Never raises for what the provider or the network does."""
    provider = asked_provider(status)
    if provider is None:
        return None
    try:
        client = api_client(requester, provider)
    except Exception:  # the chain's answer is shown already; this view is extra
        return None  # its registration or capability document cannot be read: nothing to ask
    if client is None:
        return None
    try:
        return ProviderView(provider, client.url, client.job_view(status.job_id), None)
    except Unreachable as err:
        return ProviderView(provider, client.url, None, f"unreachable ({err.problem})")
    except UserError as err:
        return ProviderView(provider, client.url, None, err.problem)


def follow_logs(
    job: Job, on_record: Callable[[dict[str, Any]], None], *, poll_s: float = 1.0
) -> str:
    """Stream a running job's log records into ``on_record`` until its container ends; the
    node's last word (why the stream ended).

    A job nobody claimed yet is waited for (until it is claimed or its claim deadline
    passes). A job delivered meanwhile sends no record (read its result's logs). Raises
    ActionNotAllowed when it ended without running, UserError when its provider publishes no
    API or refuses.
    """
    requester = job.requester
    while (view := job.view()).state == JobState.OPEN:
        if requester.now() > view.claim_deadline:
            raise ActionNotAllowed(
                f"nobody claimed job {job.id} before its claim deadline, so nothing runs",
                f"reclaim its price (`requester reclaim {job.id}`)",
            )
        time.sleep(poll_s)
    if view.state in _DELIVERED:
        return "the job was delivered meanwhile"  # no record: the caller reads the result
    if view.state != JobState.CLAIMED or view.provider is None:
        raise ActionNotAllowed(
            f"job {job.id} is {view.state.name}: nothing runs", "`requester logs` shows a result's"
        )
    client = api_client(requester, view.provider)
    if client is None:
        raise UserError(
            f"provider {view.provider} publishes no node API, so job {job.id}'s logs arrive "
            "with its result",
            f"wait for it (`requester wait {job.id}`), then `requester logs {job.id}`",
        )
    headers = signed_headers(requester, job.id, view.provider)
    until = time.monotonic() + max(0, view.deadline - requester.now()) + FOLLOW_GRACE_S
    end = "the stream ended"
    for record in client.logs(job.id, headers, follow=True, until=until):
        if isinstance(record.get("end"), str):
            end = record["end"]
            break
        shaped = isinstance(record.get("line"), str) or record.get("skipped") is True
        if record.get("stream") in _STREAMS and shaped:
            on_record(record)
    else:
        raise Unreachable(
            f"the provider's log stream for job {job.id} broke off before the job ended",
            f"run `requester logs {job.id} --follow` again",
        )
    return end


# -- reading what a node sends ------------------------------------------------------------------


class _reaching:
    """Network failures talking to ``url`` as one Unreachable line."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, err: BaseException | None, tb: Any) -> bool:
        if isinstance(err, httpx.HTTPError):
            detail = type(err).__name__
            raise Unreachable(
                f"the provider's API at {printable(self.url[:200])} does not answer ({detail})",
                "try again later; the job's state on chain is unaffected",
            ) from None
        return False


def _too_slow(url: str, what: str) -> Unreachable:
    return Unreachable(
        f"the provider's API at {printable(url[:200])} {what}",
        "try again later; the job's state on chain is unaffected",
    )


def _bounded_body(response: httpx.Response, until: float, url: str) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        if time.monotonic() > until:
            raise _too_slow(url, f"took more than {VIEW_DEADLINE_S:.0f} s to answer")
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise NodeApiError(
                f"the provider's API answered more than {MAX_DOCUMENT_BYTES} bytes; ignored"
            )
    return bytes(body)


def _bounded_lines(chunks: Iterator[bytes], until: float | None, url: str) -> Iterator[bytes]:
    """The stream's lines; only the bytes that arrived are searched for a line's end, so a
    node sending a long line in tiny pieces costs work in proportion to its bytes."""
    pending = bytearray()
    for chunk in chunks:
        if until is not None and time.monotonic() > until:
            raise _too_slow(url, "kept streaming past the job's work deadline")
        start = len(pending)
        pending += chunk
        while (cut := pending.find(b"\n", start)) >= 0:
            yield bytes(pending[:cut])
            del pending[: cut + 1]
            start = 0
        if len(pending) > _MAX_RECORD_BYTES:
            raise NodeApiError("the provider's log stream sent a line too long to be a record")
    if pending.strip():
        yield bytes(pending)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _refusal_text(code: int, document: dict[str, Any] | None) -> str:
    said = document.get("error") if document else None
    said = printable(said[:300]) if isinstance(said, str) else "no reason given"
    return f"the provider's API refused ({code}): {said}"
