"""The requester side of the market: a Python API, the ``requester`` CLI and ape scripts.

    from requester import Requester
    job = Requester.connect().post(image="alpine:3.20", command="echo hi", price="0.01")

The API names are loaded on first use, so ``requester cid …`` does not pay for web3.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from requester.api import Requester, resolve_signer
    from requester.errors import ActionNotAllowed, InsufficientFunds
    from requester.job import Job, WaitTimedOut
    from requester.signer import KeySigner, Signer

_EXPORTS = {
    "Requester": "requester.api",
    "resolve_signer": "requester.api",
    "Job": "requester.job",
    "WaitTimedOut": "requester.job",
    "Signer": "requester.signer",
    "KeySigner": "requester.signer",
    "ActionNotAllowed": "requester.errors",
    "InsufficientFunds": "requester.errors",
}

__all__ = [
    "ActionNotAllowed",
    "InsufficientFunds",
    "Job",
    "KeySigner",
    "Requester",
    "Signer",
    "WaitTimedOut",
    "resolve_signer",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'requester' has no attribute {name!r}")
