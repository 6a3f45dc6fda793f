"""Text for people: status pages, tables and one-line summaries, shared by CLI and ape scripts.

Everything here returns strings (no printing), so the ``requester`` CLI and the ape scripts
show the same words; ``--json`` output is built from the objects' ``to_json`` instead.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from jobmarket.chain.units import WEI_PER_ETHER, WEI_PER_GWEI
from jobmarket.cli import json_text
from jobmarket.spec.result import ResultManifest
from jobmarket.terminal import printable
from requester.durations import format_duration, format_time
from requester.estimate import PATHS, CostEstimate
from requester.history import JobStep
from requester.node_api import ProviderView
from requester.providers import ProviderListing
from requester.status import JobStatus, JobSummary
from requester.transactions import TxRecord


def amount(wei: int) -> str:
    """An amount rounded for reading: ``0.010108 ETH``, ``58,558 gwei``, ``12 wei``."""
    if abs(wei) >= WEI_PER_ETHER // 1000:
        text = f"{Decimal(wei) / WEI_PER_ETHER:.6f}".rstrip("0").rstrip(".")
        return f"{text} ETH"
    if abs(wei) >= WEI_PER_GWEI:
        return f"{Decimal(wei) / WEI_PER_GWEI:,.0f} gwei"
    return f"{wei} wei"


def short(address: str | None) -> str:
    return f"{address[:6]}…{address[-4:]}" if address else "-"


def to_json_text(document: Any) -> str:
    return json_text(document, indent=2, sort_keys=False)


def step_line(step: JobStep, posted_at: int | None, me: str | None) -> str:
    """``+42s  CLAIMED    claimed by 0x… (block 7, tx 0x…, gas 40,115 = 58,558 gwei)``."""
    offset = f"+{format_duration(step.timestamp - posted_at)}" if posted_at is not None else ""
    mine = " by you" if me and step.by(me) else ""
    gas = f"gas {step.tx.gas_used:,} = {amount(step.tx.cost)}{mine}"
    return (
        f"{offset:>8}  {step.state.name:<9}  {step.summary} "
        f"(block {step.block_number}, tx {step.tx.tx_hash[:10]}…, {gas})"
    )


def status_text(status: JobStatus) -> str:
    view = status.view
    named = f" ({printable(status.name)})" if status.name else ""
    lines = [f"job {view.job_id}{named}: {view.state.name}"]
    if status.deadline_name:
        lines.append(f"  {status.deadline_name + ':':<16} {status.deadline_text()}")
    lines.append(f"  {'waiting on:':<16} {status.waiting_on}")
    you = " (you)" if status.me == view.requester else ""
    lines.append(f"  {'requester:':<16} {view.requester}{you}")
    if view.provider:
        lines.append(f"  {'provider:':<16} {view.provider}")
    elif view.designated:
        lines.append(f"  {'designated:':<16} {view.designated}")
    money = status.currency.format
    lines.append(
        f"  {'price:':<16} {money(view.price)} "
        f"(provider collateral {money(view.collateral)}, fee {view.fee_bps} bps)"
    )
    lines.append(
        f"  {'terms:':<16} work timeout {format_duration(view.work_timeout)}, "
        f"review window {format_duration(view.review_window)}"
    )
    if status.spec_cid:
        lines.append(f"  {'spec:':<16} {status.spec_cid}")
    if status.result_cid:
        ended = f" — {printable(status.outcome)}" if status.outcome else ""
        lines.append(f"  {'result:':<16} {status.result_cid}{ended}")
    moves = [m for m in status.moves if m.open_at(status.now) or m.after is not None]
    if moves:
        lines.append("  next:")
        lines.extend(f"    - {move.describe(status.now)}" for move in moves)
    lines.append("  history:")
    posted_at = status.posted_at
    lines.extend(f"    {step_line(step, posted_at, status.me)}" for step in status.steps)
    costs = status.costs
    net = (
        amount(costs.net)
        if status.currency.is_eth
        else f"{money(costs.spent)} + {amount(costs.gas)} of gas"
    )
    lines.append(
        f"  costs so far: escrowed {money(costs.escrowed)}, "
        f"refunded {money(costs.refunded)}, gas {costs.gas_used:,} = {amount(costs.gas)}; "
        f"net {net}"
    )
    return "\n".join(lines)


def jobs_table(summaries: list[JobSummary]) -> str:
    if not summaries:
        return "no jobs posted by this account"
    header = (
        f"{'job':>5}  {'state':<9}  {'result':<16}  {'name':<16}  {'price':>14}  "
        f"{'provider':<13}  waiting on"
    )
    rows = [header]
    for summary in summaries:
        view = summary.view
        name = printable(summary.name or "-")[:16]
        result = printable(summary.outcome or "-")[:16]
        rows.append(
            f"{view.job_id:>5}  {view.state.name:<9}  {result:<16}  {name:<16}  "
            f"{summary.currency.format(view.price):>14}  "
            f"{short(view.provider or view.designated):<13}  "
            f"{summary.waiting_on}"
        )
    return "\n".join(rows)


def providers_table(listings: list[ProviderListing]) -> str:
    if not listings:
        return "no provider has registered on this market yet"
    rows = [
        f"{'provider':<42}  {'stake':>12}  {'free':>12}  {'done':>5}  {'slashed':>7}  capabilities"
    ]
    for p in listings:
        if p.capabilities is not None:
            caps = p.capabilities
            res = caps.max_resources
            what = f"{res.cpu:g} cpu, {res.memory_mb} MiB, "
            if caps.hardware.gpu_devices:
                what += "GPUs " + ", ".join(
                    f"{gpu.model} {gpu.memory_mb} MiB" for gpu in caps.hardware.gpu_devices
                )
                what += f" (≤{res.gpu} a job), "
            elif caps.hardware.gpus:
                what += f"{caps.hardware.gpus} GPUs (≤{res.gpu} a job), "
            what += (
                f"≤{format_duration(caps.max_timeout_s)}, "
                f"floor {p.currency.format(caps.price_floor_wei)}, "
                f"images {', '.join(caps.accepted_images)}"
            )
            if caps.images:
                what += "; holds " + ", ".join(
                    f"{' '.join(held.repo_digests or held.tags)} ({held.id[:19]}…)"
                    for held in caps.images
                )
        else:
            what = f"{p.capabilities_cid} ({p.capabilities_problem})"
        registered = "" if p.registered else " (unregistered)"
        rows.append(
            f"{p.address:<42}  {p.currency.format(p.stake):>12}  "
            f"{p.currency.format(p.free_stake):>12}  "
            f"{p.completed:>5}  {p.slashed:>7}  {what}{registered}"
        )
    return "\n".join(rows)


def estimate_text(estimate: CostEstimate) -> str:
    terms = estimate.terms
    money = terms.currency.format
    token = terms.currency.token
    # A symbol is whatever the token contract says; its address is what identifies it.
    paid_in = f"; {terms.currency.symbol} is the token {token}" if token else ""
    lines = [
        f"price:         {money(terms.price)} (escrowed at post; provider collateral "
        f"{money(estimate.collateral)}{paid_in})",
        f"gas price:     {amount(estimate.gas_price)} per gas",
        f"windows:       claim within {format_duration(terms.claim_within)}, "
        f"work timeout {format_duration(terms.work_timeout)}, "
        f"review window {format_duration(terms.review_window)}",
    ]
    post = "estimated" if estimate.post_gas_estimated else "typical"
    function = estimate.post_function
    lines.append(f"{function + ' gas:':<14} {estimate.gas['post_job']:,} ({post})")
    if estimate.needs_approve:
        lines.append(
            f"approve gas:   {estimate.gas['approve']:,} (typical; the allowance is short of "
            "the price)"
        )
    first = "approve + post" if estimate.needs_approve else "post_job"
    for path, functions in PATHS.items():
        gas = estimate.path_gas(path)
        names = " + ".join((first, *functions[1:]))
        lines.append(
            f"if {path + ':':<11} {names:<20} {gas:>8,} gas = {amount(gas * estimate.gas_price)}"
        )
    short_of = "" if estimate.enough_funds else " — NOT ENOUGH"
    if estimate.token_balance is None:
        lines.append(
            f"expected total: {amount(estimate.expected_total)} (price + post + accept); "
            f"balance {amount(estimate.balance)}{short_of}"
        )
    else:
        lines.append(
            f"expected total: {money(terms.price)} + {amount(estimate.expected_total)} of gas "
            f"(post + accept); balance {money(estimate.token_balance)} and "
            f"{amount(estimate.balance)}{short_of}"
        )
    if estimate.providers:
        accepting = estimate.matching
        lines.append(f"providers that would take it: {len(accepting)} of {len(estimate.providers)}")
        for provider, refusals in estimate.providers:
            verdict = "would take it" if not refusals else "would decline: " + "; ".join(refusals)
            lines.append(f"  {provider.address}  {verdict}")
    return "\n".join(lines)


def tx_line(record: TxRecord) -> str:
    """``accept mined in block 9 (0x…): gas 40,686 = 59,681 gwei``."""
    value = f", {record.currency.format(record.escrowed)} escrowed" if record.escrowed else ""
    return (
        f"{record.function} mined in block {record.block_number} ({record.tx_hash}): "
        f"gas {record.gas_used:,} = {amount(record.gas_cost)}{value}"
    )


def results_text(manifest: ResultManifest, destination: Path) -> str:
    exit_text = f", exit code {manifest.exit_code}" if manifest.exit_code is not None else ""
    lines = [
        f"result of job {manifest.job_id}: {manifest.status}{exit_text}, "
        f"ran {manifest.runtime_s:g}s",
        f"verified {len(manifest.outputs)} output file(s) and the logs against the manifest, "
        f"and the manifest against the on-chain digest; saved in {destination}",
    ]
    for record in manifest.outputs:
        lines.append(f"  outputs/{record.path}  {record.size:,} bytes  sha256 {record.sha256}")
    for refused in manifest.refused:
        lines.append(f"  not collected: {refused.path} ({refused.reason})")
    if manifest.logs.stderr_tail.strip():
        tail = manifest.logs.stderr_tail.strip().split("\n")[-3:]  # not splitlines: \r, \x85
        lines.append("  stderr (last lines): " + " | ".join(tail))
    return "\n".join(lines)


#: The newest steps of a provider's timeline shown by ``requester status``.
MAX_TIMELINE_STEPS = 32


def provider_view_text(view: ProviderView) -> str:
    """The provider node's view of a job under ``requester status`` (one line if none)."""
    if view.document is None:
        return f"  provider API:    {printable(view.problem or 'no answer')}"
    doc = view.document
    step = printable(str(doc.get("step", "?"))[:40])
    since = doc.get("since")
    plausible = isinstance(since, int | float) and 0 < since < 2**33
    when = f" since {format_time(int(since))}" if plausible else ""
    lines = [f"  provider view:   {step}{when} ({printable(view.url[:200])})"]
    reason = doc.get("reason")
    if isinstance(reason, str) and reason:
        lines.append(f"    reason:        {printable(reason[:500])}")
    waiting = doc.get("waiting")
    if isinstance(waiting, str) and waiting:
        lines.append(f"    waiting for:   {printable(waiting[:40])}")
    status = doc.get("result_status")
    if isinstance(status, str) and status:
        exit_code = doc.get("exit_code")
        code = f" (exit {exit_code})" if isinstance(exit_code, int) else ""
        lines.append(f"    run:           {printable(status[:40])}{code}")
    timeline = _timeline(doc.get("steps"))
    if timeline:
        lines.append(f"    timeline:      {timeline}")
    return "\n".join(lines)


def _timeline(steps: Any) -> str:
    """``seen 2026-12-02 05:01:02 UTC, claiming +0.4s, …``: when the node reached each step,
    from its (untrusted) view; entries that are not a step name and a plausible time are left
    out."""
    if not isinstance(steps, list):
        return ""
    entries = [
        (printable(entry["step"][:40]), float(entry["at"]))
        for entry in steps[-MAX_TIMELINE_STEPS:]
        if isinstance(entry, dict)
        and isinstance(entry.get("step"), str)
        and isinstance(entry.get("at"), int | float)
        and not isinstance(entry.get("at"), bool)
        and 0 < entry["at"] < 2**33
    ]
    if not entries:
        return ""
    first_step, start = entries[0]
    shown = [f"{first_step} {format_time(int(start))}"]
    shown += [f"{step} +{_offset(at - start)}" for step, at in entries[1:]]
    return ", ".join(shown)


def _offset(seconds: float) -> str:
    """Tenths of a second while they matter (``0.4s``), then ``9m 12s``."""
    seconds = max(0.0, seconds)
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)
