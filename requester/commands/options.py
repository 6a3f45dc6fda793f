"""Options shared by the ``requester`` market verbs and the ape scripts.

:func:`market_command` adds ``--rpc-url``, ``--account`` and ``--json`` and hands the verb a
connected :class:`~requester.api.Requester` (closed when the command ends). The job option
sets (:func:`post_options`, :func:`estimate_options`) are shared with ``scripts/`` so both
front ends accept the same words. Values stay raw text here: the API parses them, so a bad
price or job id is the same one-line error everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from jobmarket.chain.deployments import MARKET_ENV
from jobmarket.chain.rpc import RPC_ENV
from requester.api import ACCOUNT_ENV, DEFAULT_LOCAL_ACCOUNT, Requester
from requester.verbs import UNTIL_CHOICES, announce_transaction

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _apply(options: list[Decorator], function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(options):
        function = option(function)
    return function


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of text."
)


market_option = click.option(
    "--market",
    envvar=MARKET_ENV,
    metavar="ADDRESS",
    help=f"The JobMarket to use (env {MARKET_ENV}) [the newest one recorded for the chain].",
)


def market_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--rpc-url``, ``--account`` and ``--json``; pass a connected ``requester``."""

    @click.pass_context
    @functools.wraps(function)
    def wrapper(
        ctx: click.Context,
        rpc_url: str | None,
        account: str | None,
        market: str | None,
        **kwargs: Any,
    ):
        requester = Requester.connect(rpc_url, account, market=market)
        requester.on_transaction = announce_transaction
        ctx.call_on_close(requester.close)
        return function(requester=requester, **kwargs)

    options = [
        click.option(
            "--rpc-url",
            envvar=RPC_ENV,
            metavar="URL",
            help=f"Ethereum JSON-RPC endpoint (env {RPC_ENV}; else $APE_FOUNDRY_HOST, "
            "else http://127.0.0.1:8545).",
        ),
        click.option(
            "--account",
            envvar=ACCOUNT_ENV,
            metavar="NAME",
            help=f"Signing account: an ape account alias or TEST::N (env {ACCOUNT_ENV}; "
            f"default {DEFAULT_LOCAL_ACCOUNT}, on a local chain only).",
        ),
        market_option,
        json_option,
    ]
    return _apply(options, wrapper)


def job_id_argument(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("job_id", metavar="JOB")(function)


max_size_option = click.option(
    "--max-size",
    metavar="SIZE",
    help="Refuse a result whose files add up to more than this (bytes, 500MB, 2GiB) [1GiB]; "
    "the target filesystem's free space bounds it too.",
)


def _terms_options() -> list[Decorator]:
    return [
        click.option(
            "--price",
            required=True,
            help=(
                "Price escrowed until the job ends, in the market's currency: 0.01 (ether), "
                "'0.01 ether', '250000 gwei'; on a token market 12.5 (tokens) or '12.5 tUSD'."
            ),
        ),
        click.option("--claim-within", metavar="DURATION", help="Time to be claimed in [10m]."),
        click.option(
            "--work-timeout",
            metavar="DURATION",
            help="Time the claimer has to deliver [the job's run time + 10m].",
        ),
        click.option(
            "--review-window", metavar="DURATION", help="Time you have to review a result [1h]."
        ),
        # Not named ``provider``: ape's ConnectedProviderCommand fills a parameter of that name
        # with its network provider, silently dropping the designation in `ape run post_job`.
        click.option(
            "--provider",
            "designated",
            metavar="ADDRESS",
            help="Only this provider may claim.",
        ),
    ]


def _job_options() -> list[Decorator]:
    return [
        click.option(
            "--spec", type=click.Path(dir_okay=False, path_type=Path), help="A job spec file."
        ),
        click.option("--image", help="Docker image, e.g. alpine:3.20 or name@sha256:<digest>."),
        click.option("--cmd", "command", help="Command to run (shell-style quoting, no shell)."),
        click.option("--timeout", "job_timeout", metavar="DURATION", help="Run-time limit [10m]."),
        click.option("--cpu", type=float, help="CPU cores the job may use [1]."),
        click.option("--memory-mb", type=int, help="Memory limit in MiB [512]."),
        click.option("--gpu", type=click.IntRange(0, 8), help="NVIDIA GPUs the job needs [0]."),
        click.option(
            "--gpu-memory",
            metavar="SIZE",
            help="Least memory each GPU must have, e.g. 24GiB (needs --gpu).",
        ),
        click.option(
            "--gpu-model",
            "gpu_models",
            multiple=True,
            metavar="PATTERN",
            help="Accepted GPU models, shell patterns such as 'H100*' (repeatable; any matches).",
        ),
    ]


def post_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Everything ``post`` takes: the job, its inputs, its terms, and the round trip."""
    options = [
        *_job_options(),
        click.option(
            "--input",
            "inputs",
            multiple=True,
            metavar="[NAME=]PATH",
            help="File or folder to upload, mounted at /in/NAME (default NAME: its base name).",
        ),
        click.option(
            "--input-cid",
            "input_cids",
            multiple=True,
            metavar="NAME=CID",
            help="Content already in the store, mounted at /in/NAME.",
        ),
        click.option(
            "--input-url",
            "input_urls",
            multiple=True,
            metavar="NAME=URL#sha256=HEX",
            help="A file the provider downloads (http/https), used only if its sha256 matches.",
        ),
        click.option("--env", multiple=True, metavar="NAME=VALUE", help="Environment variable."),
        click.option(
            "--output", "outputs", multiple=True, metavar="PATH", help="Path under /out to keep."
        ),
        click.option("--name", help="A name for the job, shown to providers."),
        *_terms_options(),
        click.option(
            "--anyway",
            is_flag=True,
            help="Post even if no registered provider would take the job.",
        ),
        click.option("--wait", is_flag=True, help="Follow the job until a result is submitted."),
        click.option(
            "--fetch",
            type=click.Path(path_type=Path),
            metavar="DIR",
            help="Then download and verify the result into DIR (implies --wait).",
        ),
        click.option("--accept", is_flag=True, help="Then accept the verified result."),
        max_size_option,
        click.option("--wait-timeout", metavar="DURATION", help="Give up waiting after this."),
    ]
    return _apply(options, function)


def estimate_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """What ``estimate`` takes: the job (optional) and its terms."""
    return _apply([*_job_options(), *_terms_options()], function)


def wait_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--until",
            type=click.Choice(UNTIL_CHOICES),
            help="Wait for this state instead of your turn (a submitted result) or the end.",
        ),
        click.option(
            "--wait-timeout",
            "--timeout",
            "timeout",
            metavar="DURATION",
            help="Give up after this long (the same word as `post --wait-timeout`).",
        ),
    ]
    return _apply(options, function)


def watch_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--until-settled", is_flag=True, help="Exit once every job is settled."),
        click.option("--timeout", metavar="DURATION", help="Exit after this long."),
    ]
    return _apply(options, function)


#: The options of the moves that take more than a job id (CLI verbs and ape scripts alike).
ACTION_OPTIONS: dict[str, list[Decorator]] = {
    "dispute": [
        click.option(
            "--reason",
            metavar="TEXT",
            help="Why the result is wrong; stored in the content store, its digest sent with "
            "the dispute for the arbiter.",
        )
    ],
    "resolve": [
        click.option(
            "--provider-share",
            required=True,
            metavar="SHARE",
            help="The provider's part of the price: a percentage (70%) or basis points (7000); "
            "the rest goes to the requester.",
        )
    ],
}
