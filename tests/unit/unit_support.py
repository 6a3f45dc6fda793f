"""Shared data of the unit tier: accounts and a JobPosted's terms."""

from __future__ import annotations

import time

from provider_node.journal.store import PostedJob

ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RIVAL = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
REQUESTER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def posted(job_id: int = 1, *, spec: bytes = b"\x11" * 32, requester: str = REQUESTER,
           price: int = 10**16, block: int = 5) -> PostedJob:  # fmt: skip
    return PostedJob(
        job_id=job_id,
        requester=requester,
        designated=None,
        spec_digest=spec,
        price=price,
        collateral=price // 10,
        claim_deadline=int(time.time()) + 600,
        work_timeout=300,
        review_window=60,
        posted_block=block,
    )
