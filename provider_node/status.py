"""``provider-node status``: what the node is doing, and what the chain says it has earned."""

from __future__ import annotations

import fcntl
import time
from pathlib import Path
from typing import Any

from jobmarket.chain.units import Currency, format_price, price_unit_for
from jobmarket.durations import format_duration, format_relative
from provider_node.chain.signer import receipt_gas_price
from provider_node.context.identity import RUN_LOCK_NAME
from provider_node.context.session import Session
from provider_node.journal.store import payout_after_fee
from provider_node.lifecycle.steps import IN_FLIGHT_STEPS, Step


def collect(session: Session) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-ready data: amounts as strings of the market's
    smallest unit (wei, or the token's units; ``currency`` says which), gas in wei."""
    client, identity, journal = session.client, session.identity, session.journal
    me = session.account.address
    info = client.provider_info(me)
    credits = client.credits(me)
    head = client.w3.eth.block_number
    now = time.time()
    in_flight = []
    for job in journal.jobs(IN_FLIGHT_STEPS):
        deadline = job.review_deadline if job.step == Step.SUBMITTED else job.work_deadline
        if job.disputed:
            deadline = job.arbiter_deadline
        in_flight.append(
            {
                "job_id": job.job_id,
                "step": str(job.step),
                "since_s": round(now - job.updated_at, 1),
                "price": str(job.price),
                "deadline": deadline,
                "disputed": job.disputed,
                "result_cid": job.result_cid,
                "status": job.status,
            }
        )
    pid = _running_pid(identity.folder / RUN_LOCK_NAME)
    counts = journal.step_counts()
    pending = _pending_earnings(client, journal)
    gas_cost = _gas_cost(client, journal)
    earned = journal.earnings()
    currency = client.currency
    return {
        "node_id": identity.node_id,
        "running": pid is not None,
        "pid": pid,
        "account": me,
        "chain_id": identity.chain_id,
        "market": identity.market,
        "currency": {
            "symbol": currency.symbol,
            "decimals": currency.decimals,
            "token": currency.token,
        },
        "registered": info.registered,
        "stake": str(info.stake),
        "locked": str(info.locked),
        "free": str(info.free),
        "completed": info.completed,
        "slashed": info.slashed,
        "earnings": str(earned),
        "pending_earnings": str(pending),
        "gas_cost": str(gas_cost),
        # One figure only where earnings and gas are one currency (ETH).
        "net_earnings": str(earned - gas_cost) if currency.is_eth else None,
        "credits": str(credits),
        "gas_used": journal.gas_spent(),
        "head_block": head,
        "scanned_to_block": journal.next_block(client.start_block) - 1,
        "jobs": {str(step): counts.get(str(step), 0) for step in Step},
        "in_flight": in_flight,
        "state_folder": str(identity.folder),
    }


def _pays_in(data: dict[str, Any]) -> str:
    """``, pays in tUSD (token 0x…)``: a symbol is the token's own claim, its address is not."""
    token = data["currency"].get("token")
    return f", pays in {data['currency']['symbol']} (token {token})" if token else ""


def render(data: dict[str, Any]) -> str:
    """The human view of :func:`collect`'s data."""
    state = f"running, pid {data['pid']}" if data["running"] else "not running"
    price = _currency(data).format
    if data["net_earnings"] is not None:
        net = (
            f"{format_price(int(data['net_earnings']))} after "
            f"{format_price(int(data['gas_cost']))} of gas"
        )
    else:
        net = f"{price(int(data['earnings']))} earned, {format_price(int(data['gas_cost']))} of gas"
    lines = [
        f"node        {data['node_id']} ({state})",
        f"account     {data['account']}",
        f"market      {data['market']} on chain {data['chain_id']}{_pays_in(data)}",
        f"registered  {'yes' if data['registered'] else 'no (run provider-node register)'}",
        f"stake       {price(int(data['stake']))} (locked {price(int(data['locked']))}, "
        f"free {price(int(data['free']))})",
        f"record      {data['completed']} completed, {data['slashed']} slashed",
        f"earnings    {price(int(data['earnings']))} credited to the stake by settled jobs; "
        f"{price(int(data['pending_earnings']))} pending (submitted, not yet paid), net of the "
        "protocol fee",
        f"net         {net}",
        f"credits     {price(int(data['credits']))} (provider-node withdraw)",
        f"events      read up to block {data['scanned_to_block']} of {data['head_block']}",
    ]
    counted = ", ".join(f"{n} {step}" for step, n in data["jobs"].items() if n)
    lines.append(f"jobs        {counted or 'none seen yet'}")
    if data["in_flight"]:
        lines.append("in flight   JOB     STEP       SINCE    DEADLINE    RESULT")
        for job in data["in_flight"]:
            deadline = _relative(job["deadline"])
            result = job["status"] or ""
            if job["disputed"]:
                result = (result + " disputed").strip()
            lines.append(
                f"            {job['job_id']:<7} {job['step']:<10} "
                f"{format_duration(job['since_s']):>7}  {deadline:<11} {result}"
            )
    else:
        lines.append("in flight   none")
    return "\n".join(lines)


def _pending_earnings(client: Any, journal: Any) -> int:
    """Wei our submitted, unsettled jobs pay if accepted: each price minus the protocol fee it
    was posted under (journaled by the running node; read from the chain where not yet)."""
    pending, fee_unknown = journal.pending_earnings()
    for job in fee_unknown:
        pending += payout_after_fee(job.price, client.job(job.job_id).fee_bps)
    return pending


def _currency(data: dict[str, Any]) -> Currency:
    """The market's currency as :func:`collect` recorded it."""
    kind = data["currency"]
    decimals = int(kind["decimals"])
    return Currency(kind["symbol"], decimals, price_unit_for(decimals), kind["token"])


def _gas_cost(client: Any, journal: Any) -> int:
    """Wei paid for the node's mined transactions: gas used times the effective gas price,
    both journaled from the receipts (those journaled before schema 3 are priced from the
    receipt the RPC still has, and journaled as such by the next housekeeping round)."""
    total = journal.gas_cost()
    for tx in journal.gas_prices_missing():
        try:
            receipt = client.w3.eth.get_transaction_receipt(tx.hash)
        except Exception:  # not found (pruned, reorged): counted at no price rather than failing
            continue
        total += int(tx.gas_used) * receipt_gas_price(receipt)
    return total


def _relative(deadline: int | None) -> str:
    """``in 20m``, ``3m ago``: people read durations, not seconds."""
    if deadline is None:
        return "-"
    return format_relative(int(deadline), int(time.time()))


def _running_pid(lock_path: Path) -> int | None:
    """The pid of the ``run`` process holding the node's lock, if one does."""
    try:
        with open(lock_path) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = lock.read().strip()
                return int(text) if text.isdigit() else 0
            fcntl.flock(lock, fcntl.LOCK_UN)
    except FileNotFoundError:
        pass
    return None
