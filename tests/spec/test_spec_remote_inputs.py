"""The spec's URL inputs and retrieval hints: every rule a counterpart's spec must follow."""

from __future__ import annotations

import pytest

from jobmarket.errors import InvalidInput
from jobmarket.spec.job import JobSpec
from jobmarket.spec.validation import DocumentInvalid
from requester.remote import parse_input_url

SHA = "ab" * 32
PEER = "/ip4/10.1.2.3/tcp/4001/p2p/12D3KooWJbJFaZ3k5sNd8DjQgg3aERoKtBAnirEvPV8yp76kEXHB"
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def _spec(**fields: object) -> JobSpec:
    return JobSpec.parse({"image": "jobmarket/busybox:1", "command": ["true"], **fields})


def test_a_spec_without_the_new_fields_keeps_its_bytes_and_cid():
    plain = _spec()
    assert b"url_inputs" not in plain.to_block()[0]
    assert b"retrieval" not in plain.to_block()[0]


def test_url_inputs_and_peer_hints_round_trip():
    spec = _spec(
        url_inputs=[{"url": "https://example.org/a.csv", "sha256": SHA, "path": "a.csv"}],
        retrieval={"peers": [PEER], "gateways": ["https://gateway.example"]},
    )
    again = JobSpec.parse(spec.to_block()[0])
    assert again == spec
    assert again.url_inputs[0].sha256 == SHA


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url_inputs": [{"url": "ftp://x/y", "sha256": SHA, "path": "a"}]}, "http:// or https://"),
        (
            {"url_inputs": [{"url": "http://x/y", "sha256": "AB" * 32, "path": "a"}]},
            "sha256: must match",
        ),
        (
            {"url_inputs": [{"url": "http://x/y", "sha256": SHA, "path": "../a"}]},
            "url_inputs.0.path",
        ),
        (
            {
                "inputs": [{"cid": CID, "path": "a"}],
                "url_inputs": [{"url": "http://x/y", "sha256": SHA, "path": "a"}],
            },
            "appears twice",
        ),
        ({"retrieval": {"peers": ["/ip4/1.2.3.4/tcp/1"]}}, "not an IPFS peer address"),
    ],
)
def test_a_broken_remote_input_is_named_in_one_line(fields, message):
    with pytest.raises(DocumentInvalid, match=message):
        _spec(**fields)


def test_input_url_option_reads_name_url_and_digest():
    entry = parse_input_url(f"data.csv=https://example.org/d.csv?x=1#sha256={SHA.upper()}")
    assert (entry.path, entry.url, entry.sha256) == (
        "data.csv",
        "https://example.org/d.csv?x=1",
        SHA,
    )
    for bad in (
        "https://example.org/d.csv",
        f"d=https://example.org/d.csv#md5={SHA}",
        f"../x=http://h/#sha256={SHA}",
    ):
        with pytest.raises(InvalidInput, match="--input-url"):
            parse_input_url(bad)
