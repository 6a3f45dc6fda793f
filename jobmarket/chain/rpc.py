"""Connecting to an Ethereum JSON-RPC endpoint, with one clear error when it does not answer.

The requester CLI and the provider node use web3.py directly (ape costs ~5 s to import); the
endpoint comes from ``--rpc-url``, else ``$JOBMARKET_RPC_URL``, else ``$APE_FOUNDRY_HOST`` (the
variable ape-foundry reads), else the local anvil at ``http://127.0.0.1:8545``.
"""

import os

import requests
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from jobmarket.errors import InvalidInput, Unreachable

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
# Development chains (anvil, hardhat): test keys allowed, no confirmations, fast polling.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
LOCAL_POLL_S = 0.1
REMOTE_POLL_S = 1.0
RPC_ENV = "JOBMARKET_RPC_URL"
REQUEST_TIMEOUT_S = 30.0


def resolve_rpc_url(explicit: str | None = None) -> str:
    """The endpoint to use: explicit, then environment, then the local default.

    A value of ours that is not an http(s) URL is a mistake to report; ``$APE_FOUNDRY_HOST``
    is only borrowed when it is one (ape also accepts e.g. ``auto`` there).
    """
    for candidate in (explicit, os.environ.get(RPC_ENV)):
        if not candidate:
            continue
        if not _is_http_url(candidate):
            raise InvalidInput(
                f"malformed RPC URL {candidate!r}", "give an http(s) URL such as " + DEFAULT_RPC_URL
            )
        return candidate
    foundry_host = os.environ.get("APE_FOUNDRY_HOST", "")
    return foundry_host if _is_http_url(foundry_host) else DEFAULT_RPC_URL


def _is_http_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def is_local_chain(chain_id: int) -> bool:
    return chain_id in LOCAL_CHAIN_IDS


def default_poll_interval(chain_id: int) -> float:
    """Seconds between two looks at the chain head: quick on a local chain (a request costs
    nothing there), gentle on a public RPC (rate limits; blocks take seconds anyway)."""
    return LOCAL_POLL_S if is_local_chain(chain_id) else REMOTE_POLL_S


def connect(url: str | None = None, timeout: float = REQUEST_TIMEOUT_S) -> Web3:
    """A web3 connected to ``url`` (see :func:`resolve_rpc_url`), checked to answer."""
    url = resolve_rpc_url(url)
    provider = HTTPProvider(
        url,
        request_kwargs={"timeout": timeout},
        exception_retry_configuration=ExceptionRetryConfiguration(
            # requests' ConnectionError is not the built-in one: without it nothing retries.
            errors=(
                ConnectionError,
                requests.ConnectionError,
                requests.HTTPError,
                requests.Timeout,
            ),
            retries=2,
            backoff_factor=0.1,
        ),
    )
    w3 = Web3(provider)
    try:
        w3.eth.chain_id  # noqa: B018 - the probe: any failure here means "not reachable"
    except Exception as err:  # requests/urllib3/ValueError: all mean the same to a user
        raise Unreachable(
            f"the Ethereum RPC at {url} does not answer ({type(err).__name__})",
            "start a local chain (`make chain`) or pass --rpc-url / set JOBMARKET_RPC_URL",
        ) from None
    return w3
