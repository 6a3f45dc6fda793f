"""Provider capability documents: canonical, wei as strings, and a clear accept/refuse."""

from __future__ import annotations

import json

import pytest

from jobmarket.spec import DocumentInvalid, JobSpec, ProviderCapabilities

DOCUMENT = {
    "node_version": "0.1.0",
    "hardware": {"cpus": 8, "memory_mb": 32768, "gpus": 0},
    "max_resources": {"cpu": 4, "memory_mb": 8192, "gpu": 0, "disk_mb": 4096},
    "max_timeout_s": 1800,
    "price_floor_wei": "1000000000000000000000",  # above 2**53: exact only as a string
    "accepted_images": ["docker.io/library/*@sha256:*", "busybox:*"],
}


def test_round_trip_keeps_large_wei_exact_and_cid_raw():
    caps = ProviderCapabilities.parse(DOCUMENT)
    data, cid = caps.to_block()
    assert json.loads(data)["price_floor_wei"] == "1000000000000000000000"
    assert caps.price_floor_wei == 10**21
    assert str(cid).startswith("bafkrei")
    assert ProviderCapabilities.parse(data) == caps


def test_accepts_matching_job_and_explains_refusals():
    caps = ProviderCapabilities.parse(DOCUMENT)
    fits = JobSpec.parse({"image": "busybox:1.36", "command": ["true"]})
    assert caps.accepts(fits, price_wei=10**21) == []
    too_big = JobSpec.parse(
        {
            "image": "ghcr.io/x/y:1",
            "command": ["true"],
            "resources": {"memory_mb": 16384},
            "network": "bridge",
            "timeout_s": 3600,
        }
    )
    assert caps.accepts(too_big, price_wei=1) == [
        "resources.memory_mb: 16384 exceeds this node's maximum of 8192",
        "timeout_s: 3600 exceeds the maximum 1800",
        "network: 'bridge' is not offered",
        "image: ghcr.io/x/y:1 matches none of the accepted images",
        "price: 1 wei is below the floor of 1000000000000000000000",
    ]


def test_bad_document_lines():
    broken = dict(DOCUMENT, price_floor_wei="-5", accepted_images=[])
    with pytest.raises(DocumentInvalid) as caught:
        ProviderCapabilities.parse(broken)
    assert caught.value.lines == [
        "price_floor_wei: must be a whole number of wei, written in decimal digits",
        "accepted_images: must have at least 1 item",
    ]
