"""Connecting to an Ethereum JSON-RPC endpoint, with one clear error when it does not answer.

The requester CLI and the provider node use web3.py directly (ape costs ~5 s to import); the
endpoint comes from ``--rpc-url``, else ``$JOBMARKET_RPC_URL``, else ``$APE_FOUNDRY_HOST`` (the
variable ape-foundry reads), else the local anvil at ``http://127.0.0.1:8545``.
"""

import os
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from jobmarket.errors import InvalidInput, Unreachable

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
# Development chains (anvil, hardhat): test keys allowed, no confirmations, fast polling.
# Decided by asking the node (``web3_clientVersion``) when it connects: an anvil forking Sepolia
# answers with chain id 11155111 but is a development chain all the same. The ids below only
# decide for a node that does not say what it is.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
DEV_CLIENTS = ("anvil/", "hardhatnetwork/", "ganache/")
_dev_chain_ids: set[int] = set()
_public_chain_ids: set[int] = set()
LOCAL_POLL_S = 0.1
REMOTE_POLL_S = 1.0
RPC_ENV = "JOBMARKET_RPC_URL"
REQUEST_TIMEOUT_S = 30.0
# What a dropped or reset connection raises through web3's HTTPProvider. requests' own
# ConnectionError is NOT a subclass of the built-in one: both must be listed or nothing retries.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)
# Per request (web3's provider): 5 attempts, 0.1 + 0.2 + 0.4 + 0.8 s apart.
REQUEST_ATTEMPTS = 5
REQUEST_BACKOFF_S = 0.1
# Around a whole operation (a poll of ``wait``/``watch``/``status``, node start-up): the
# per-request retries gave up, the outage may be longer; give up after about a minute.
OPERATION_BACKOFF_S = (0.5, 1, 2, 4, 8, 15, 30)

T = TypeVar("T")


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
    """Whether ``chain_id`` is a development chain: as its node said when it connected (see
    :func:`connect`), else by the well-known development ids."""
    if chain_id in _dev_chain_ids:
        return True
    return chain_id in LOCAL_CHAIN_IDS and chain_id not in _public_chain_ids


def is_dev_node(w3: Web3) -> bool:
    """Ask the node whether it is a development node (anvil, Hardhat, Ganache); remembered for
    its chain id, so :func:`is_local_chain` answers the same for this process."""
    chain_id = int(w3.eth.chain_id)
    try:
        version = str(w3.client_version).lower()
    except Exception:  # a node that does not answer web3_clientVersion says nothing
        return is_local_chain(chain_id)
    dev = version.startswith(DEV_CLIENTS)
    (_dev_chain_ids if dev else _public_chain_ids).add(chain_id)
    (_public_chain_ids if dev else _dev_chain_ids).discard(chain_id)
    return dev


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
            errors=(*TRANSPORT_ERRORS, requests.HTTPError),
            retries=REQUEST_ATTEMPTS,
            backoff_factor=REQUEST_BACKOFF_S,
        ),
    )
    w3 = Web3(provider)
    try:
        is_dev_node(w3)  # the probe (chain id, client): any failure means "not reachable"
    except Exception as err:  # requests/urllib3/ValueError: all mean the same to a user
        raise Unreachable(
            f"the Ethereum RPC at {url} does not answer ({type(err).__name__})",
            "start a local chain (`make chain`) or pass --rpc-url / set JOBMARKET_RPC_URL",
        ) from None
    return w3


def is_transport_error(err: BaseException) -> bool:
    """True for a dropped, reset or timed-out connection (not for an answer the node gave)."""
    return isinstance(err, TRANSPORT_ERRORS)


def with_retries(
    operation: Callable[[], T],
    what: str,
    *,
    backoff_s: tuple[float, ...] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``operation()``, repeated with growing pauses while the RPC's connection fails.

    After the last pause the outage is reported as one :class:`Unreachable` line (exit 3)
    naming ``what`` was being done; any other error passes through at once. The pauses are
    ``backoff_s``, else :data:`OPERATION_BACKOFF_S` (read at each call).
    """
    backoff_s = OPERATION_BACKOFF_S if backoff_s is None else backoff_s
    for pause in (*backoff_s, None):
        try:
            return operation()
        except TRANSPORT_ERRORS as err:
            if pause is None:
                waited = sum(backoff_s)
                raise Unreachable(
                    f"the Ethereum RPC stopped answering while {what} "
                    f"({type(err).__name__}; retried for {waited:g}s)",
                    "check the RPC endpoint, then run the command again; nothing was lost",
                ) from None
            sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover
