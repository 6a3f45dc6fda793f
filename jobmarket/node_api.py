"""The provider node's read-only API as both sides speak it: paths, headers, the signed message.

A node started with ``provider-node run --api-listen HOST:PORT`` answers

* ``GET /v1/jobs/{id}``: the node's view of one job (its journaled step, why, when);
* ``GET /v1/jobs/{id}/logs[?follow=1]``: the job's stdout and stderr as JSON Lines, live while
  its container runs, for the job's requester only.

A log request carries an EIP-191 (``personal_sign``) signature of :func:`logs_message` by the
job's requester, and the unix time it signed at. The message binds the job id, the market,
the chain and the provider node's account, so a signature read off the wire opens nothing
else, and the node refuses a time more than :data:`REPLAY_WINDOW_S` from its own clock.
Written once here: the node (``provider_node.api``) checks what the requester
(``requester.node_api``) signs.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address

API_PREFIX = "/v1"
SIGNATURE_HEADER = "X-JobMarket-Signature"
TIMESTAMP_HEADER = "X-JobMarket-Timestamp"
#: How far (seconds) a signed timestamp may lie from the node's clock, either way.
REPLAY_WINDOW_S = 60
#: A log line longer than this (bytes) arrives in pieces, each marked ``"partial": true``.
MAX_LINE_BYTES = 16 * 1024
#: The largest JSON document the API answers with (a job view), and a client reads.
MAX_DOCUMENT_BYTES = 256 * 1024
#: Seconds of silence after which a log stream sends ``{"alive": true}``.
HEARTBEAT_S = 15.0
LOGS_CONTENT_TYPE = "application/x-ndjson"


def job_path(job_id: int) -> str:
    return f"{API_PREFIX}/jobs/{job_id}"


def logs_path(job_id: int, *, follow: bool) -> str:
    return f"{job_path(job_id)}/logs" + ("?follow=1" if follow else "")


def logs_message(job_id: int, *, market: str, chain_id: int, provider: str, timestamp: int) -> str:
    """The text a requester signs to read job ``job_id``'s logs from ``provider``'s node."""
    return (
        "JobMarket node API: read the logs of a job\n"
        f"job: {int(job_id)}\n"
        f"market: {to_checksum_address(market)}\n"
        f"chain: {int(chain_id)}\n"
        f"provider: {to_checksum_address(provider)}\n"
        f"timestamp: {int(timestamp)}"
    )


def sign_text(account: object, text: str) -> str:
    """``personal_sign`` of ``text`` by an eth_account account, as 0x-hex."""
    signed = account.sign_message(encode_defunct(text=text))  # type: ignore[attr-defined]
    return "0x" + bytes(signed.signature).hex()


def recover_signer(text: str, signature: str) -> str | None:
    """The address that signed ``text`` (EIP-191), or None when the signature is malformed."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            return None
        signer = Account.recover_message(encode_defunct(text=text), signature=raw)
        return to_checksum_address(signer)
    except Exception:  # any malformed signature is simply no signer
        return None
