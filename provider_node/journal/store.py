"""The node's journal: one SQLite database (WAL mode) holding everything a restart needs.

* ``cursor`` and ``blocks``: the next block to read events from, and the hashes of recently
  read blocks (a changed hash means a reorg: the cursor is rewound to the fork);
* ``jobs``: every job the node has seen and the step it has reached
  (``provider_node.lifecycle.steps``);
* ``transactions``: every transaction the node signed, with its raw bytes, nonce and hash,
  written *before* it is broadcast, so after ``kill -9`` the node confirms or rebroadcasts it
  instead of signing a second one;
* ``compacted_jobs``: one short row per job that ended long ago (settled, declined, lost,
  abandoned, failed and older than the node's retention): its final step, payout, gas and
  times, all that ``status`` and the earnings need, once its full row and its transactions
  are gone (:meth:`Journal.compact`), so the journal stops growing with every job;
* ``meta``: which chain, market and account this journal belongs to.

Every commit survives a crash of the process (``kill -9``). The writes that come right before
something irreversible — a transaction about to be broadcast, a result pinned before its
container is deleted — are also flushed to disk (:meth:`Journal.durable`), so they survive a
power loss too; everything else can be rebuilt from the chain and Docker after one. One
connection is shared by the node's threads behind a lock; other processes
(``provider-node status``, ``stake``) open their own, which WAL allows while the node runs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobmarket.errors import UserError
from provider_node.lifecycle.steps import Step, Waiting

SCHEMA_VERSION = 3
# Version 1 kept a job's sub-state in the text of ``reason``; version 2 has ``waiting`` and the
# steps ``claiming`` and ``abandoning``. These turn a version-1 journal into version 2 (in one
# transaction), so an existing node's journal opens with every job where it stood.
_MIGRATE_1_TO_2 = [
    "ALTER TABLE jobs ADD COLUMN waiting TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE jobs ADD COLUMN event_block INTEGER",
    "ALTER TABLE jobs ADD COLUMN event_hash TEXT",
    "UPDATE jobs SET step = 'abandoning', reason = substr(reason, 13) "
    "WHERE step IN ('claimed', 'running') AND substr(reason, 1, 12) = 'abandoning: '",
    "UPDATE jobs SET waiting = 'rival-claim' "
    "WHERE step = 'seen' AND reason = 'another provider''s claim is pending'",
    "UPDATE jobs SET waiting = 'capacity' "
    "WHERE step = 'seen' AND reason = 'waiting for a free slot'",
    "UPDATE jobs SET waiting = 'stake' WHERE step = 'seen' AND (substr(reason, 1, 13) = "
    "'stake too low' OR substr(reason, 1, 23) = 'claim refused for now: ')",
    "UPDATE jobs SET waiting = 'trouble' WHERE step = 'seen' AND not_before > 0 AND waiting = '' "
    "AND (substr(reason, 1, 17) = 'could not decide:' OR substr(reason, 1, 24) = "
    "'content store unreachable')",
    "UPDATE jobs SET step = 'claiming' WHERE step = 'seen' AND job_id IN (SELECT job_id FROM "
    "transactions WHERE function = 'claim' AND status IN ('signed', 'sent', 'mined'))",
]
# Version 3 journals the GPUs allocated to a job (indexes, "0,1": a restart keeps them), each
# receipt's effective gas price (gas cost without asking the RPC again), each job's protocol fee
# (pending earnings net of it) and keeps compacted jobs in ``compacted_jobs`` (created by
# _SCHEMA). Older rows have no price: see gas_prices_missing.
_MIGRATE_2_TO_3 = [
    "ALTER TABLE jobs ADD COLUMN gpus TEXT",
    "ALTER TABLE transactions ADD COLUMN gas_price TEXT",
    "ALTER TABLE jobs ADD COLUMN fee_bps INTEGER",
]
# Each schema version a journal may have, and the statements that take it one version up.
_MIGRATIONS = {"1": (_MIGRATE_1_TO_2, "2"), "2": (_MIGRATE_2_TO_3, "3")}
# Steps kept per job in ``job_steps`` (when it reached each one; a job that keeps coming back to
# ``seen``, reopened or reposted, keeps its newest ones). Created by _SCHEMA: a journal without
# the table gains it on opening, and older nodes ignore it, so the schema version stays 3.
MAX_STEPS_KEPT = 32
# Block hashes kept for reorg detection; a reorg deeper than this rescans from the oldest one.
REMEMBERED_BLOCKS = 256
#: The largest job id SQLite's INTEGER holds: a larger one (a stranger's URL) is no job here.
MAX_JOURNALED_JOB_ID = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY,
    step TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    waiting TEXT NOT NULL DEFAULT '',
    event_block INTEGER,
    event_hash TEXT,
    open INTEGER NOT NULL DEFAULT 1,
    requester TEXT NOT NULL,
    designated TEXT,
    spec_digest TEXT NOT NULL,
    price_gwei INTEGER NOT NULL,
    collateral TEXT NOT NULL,
    claim_deadline INTEGER NOT NULL,
    work_timeout INTEGER NOT NULL,
    review_window INTEGER NOT NULL,
    posted_block INTEGER NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,
    cpu REAL,
    memory_mb INTEGER,
    work_deadline INTEGER,
    review_deadline INTEGER,
    arbiter_deadline INTEGER,
    disputed INTEGER NOT NULL DEFAULT 0,
    result_cid TEXT,
    status TEXT,
    exit_code INTEGER,
    payout TEXT,
    seen_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    gpus TEXT,
    fee_bps INTEGER
);
CREATE TABLE IF NOT EXISTS compacted_jobs (
    job_id INTEGER PRIMARY KEY,
    step TEXT NOT NULL,
    payout TEXT,
    gas_used INTEGER NOT NULL,
    gas_cost TEXT NOT NULL,
    result_cid TEXT,
    seen_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS job_steps (
    job_id INTEGER NOT NULL,
    step TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS job_steps_by_job ON job_steps (job_id);
CREATE INDEX IF NOT EXISTS jobs_by_step ON jobs (step);
CREATE INDEX IF NOT EXISTS jobs_candidates ON jobs (step, open, price_gwei DESC, job_id);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER,
    function TEXT NOT NULL,
    args TEXT NOT NULL,
    value TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    raw BLOB NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    block_number INTEGER,
    gas_used INTEGER,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    gas_price TEXT
);
CREATE INDEX IF NOT EXISTS transactions_by_job ON transactions (job_id, function);
CREATE INDEX IF NOT EXISTS transactions_by_status ON transactions (status);
"""

_JOB_COLUMNS = [
    "job_id", "step", "reason", "open", "requester", "designated", "spec_digest", "price_gwei",
    "collateral", "claim_deadline", "work_timeout", "review_window", "posted_block",
    "not_before", "cpu", "memory_mb", "work_deadline", "review_deadline", "arbiter_deadline",
    "disputed", "result_cid", "status", "exit_code", "payout", "seen_at", "updated_at",
    "waiting", "event_block", "event_hash", "gpus", "fee_bps",
]  # fmt: skip
_TX_COLUMNS = [
    "id", "job_id", "function", "args", "value", "nonce", "raw", "hash", "status",
    "block_number", "gas_used", "reason", "created_at", "updated_at", "gas_price",
]  # fmt: skip
_COMPACTED_COLUMNS = [
    "job_id", "step", "payout", "gas_used", "gas_cost", "result_cid", "seen_at", "updated_at",
]  # fmt: skip


class TxStatus:
    """Where a journaled transaction stands."""

    SIGNED = "signed"  # journaled, maybe not broadcast yet
    SENT = "sent"  # the RPC accepted it
    MINED = "mined"  # included, status 1
    REVERTED = "reverted"  # included, status 0
    REJECTED = "rejected"  # the RPC refused it: its nonce was never used
    DROPPED = "dropped"  # never mined, and its nonce went to another transaction

    UNFINISHED = (SIGNED, SENT)
    NONCE_USED = (SIGNED, SENT, MINED, REVERTED)


@dataclass(frozen=True)
class JobRecord:
    """One job as the journal knows it (amounts in wei, times in unix seconds)."""

    job_id: int
    step: Step
    reason: str
    open: bool
    requester: str
    designated: str | None
    spec_digest: bytes
    price_gwei: int
    collateral: int
    claim_deadline: int
    work_timeout: int
    review_window: int
    posted_block: int
    not_before: float
    cpu: float | None
    memory_mb: int | None
    work_deadline: int | None
    review_deadline: int | None
    arbiter_deadline: int | None
    disputed: bool
    result_cid: str | None
    status: str | None
    exit_code: int | None
    payout: int | None
    seen_at: float
    updated_at: float
    waiting: Waiting
    # The block (number and hash) of the last event the node applied to this job: a reorg
    # that replaces that block makes the node re-read the job from the chain.
    event_block: int | None
    event_hash: str | None
    # The GPU indexes allocated to the job when it was decided, comma-separated ("0,1").
    gpus: str | None = None
    # The protocol fee (basis points of the price) the job was posted under; None until read.
    fee_bps: int | None = None

    # The market's price unit: ``price_gwei`` counts these (gwei in an ETH market; in a token
    # market 10**(decimals - 9), or 1 token unit for a token of 9 decimals or fewer). The
    # column keeps its first name; its unit is the market's.
    price_unit: int = 10**9

    @property
    def gpu_indexes(self) -> tuple[int, ...]:
        return tuple(int(index) for index in self.gpus.split(",")) if self.gpus else ()

    @property
    def price(self) -> int:
        """The price in the market's smallest unit (wei, or token units)."""
        return self.price_gwei * self.price_unit

    @property
    def payout_if_accepted(self) -> int | None:
        """What an accept or finalize credits us (price minus the fee, as the contract
        computes it); None while the fee is not journaled."""
        if self.fee_bps is None:
            return None
        return payout_after_fee(self.price, self.fee_bps)

    @classmethod
    def from_row(cls, row: sqlite3.Row, price_unit: int = 10**9) -> JobRecord:
        values = dict(zip(_JOB_COLUMNS, row, strict=True))
        values["price_unit"] = price_unit
        values["step"] = Step(values["step"])
        values["waiting"] = Waiting(values["waiting"])
        values["open"] = bool(values["open"])
        values["disputed"] = bool(values["disputed"])
        values["spec_digest"] = bytes.fromhex(values["spec_digest"])
        values["collateral"] = int(values["collateral"])
        values["payout"] = None if values["payout"] is None else int(values["payout"])
        return cls(**values)


@dataclass(frozen=True)
class TxRecord:
    """One transaction the node signed."""

    id: int
    job_id: int | None
    function: str
    args: list[Any]
    value: int
    nonce: int
    raw: bytes
    hash: str
    status: str
    block_number: int | None
    gas_used: int | None
    reason: str | None
    created_at: float
    updated_at: float
    # The receipt's effective gas price (wei); None before it was mined, or in rows journaled
    # before schema 3.
    gas_price: int | None = None

    @property
    def gas_cost(self) -> int | None:
        """Wei this transaction cost, when mined and its price journaled."""
        if self.gas_used is None or self.gas_price is None:
            return None
        return self.gas_used * self.gas_price

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TxRecord:
        values = dict(zip(_TX_COLUMNS, row, strict=True))
        values["args"] = json.loads(values["args"])
        values["value"] = int(values["value"])
        values["raw"] = bytes(values["raw"])
        values["gas_price"] = None if values["gas_price"] is None else int(values["gas_price"])
        return cls(**values)


@dataclass(frozen=True)
class CompactedJob:
    """What the journal keeps of a job once compacted: enough for status and earnings."""

    job_id: int
    step: Step
    payout: int | None
    gas_used: int
    gas_cost: int
    # The result DAG this node still pins (``--keep-results``); None once unpinned, or none.
    result_cid: str | None
    seen_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CompactedJob:
        values = dict(zip(_COMPACTED_COLUMNS, row, strict=True))
        values["step"] = Step(values["step"])
        values["payout"] = None if values["payout"] is None else int(values["payout"])
        values["gas_cost"] = int(values["gas_cost"])
        return cls(**values)


def payout_after_fee(price: int, fee_bps: int) -> int:
    """The contract's ``price - price * fee_bps // 10000`` (``_settle_accepted``)."""
    return price - price * fee_bps // 10_000


@dataclass(frozen=True)
class PostedJob:
    """The terms of a job as its JobPosted event announced them."""

    job_id: int
    requester: str
    designated: str | None
    spec_digest: bytes
    price: int
    collateral: int
    claim_deadline: int
    work_timeout: int
    review_window: int
    posted_block: int

    def same_post_as(self, job: JobRecord) -> bool:
        """Whether the journaled job is this post (a reorg can reuse the id for another)."""
        return (
            job.requester == self.requester
            and job.designated == self.designated
            and job.spec_digest == self.spec_digest
            and job.price == self.price
            and job.collateral == self.collateral
            and job.claim_deadline == self.claim_deadline
            and job.work_timeout == self.work_timeout
            and job.review_window == self.review_window
        )


class JournalMismatch(UserError):
    """The journal on disk belongs to another chain, market or account."""


class JournalDamaged(UserError):
    """The journal file is not a readable SQLite database (truncated, overwritten, corrupt)."""


class Journal:
    """The node's durable memory; every method is safe to call from any thread."""

    def __init__(self, path: Path, price_unit: int = 10**9) -> None:
        self.path = Path(path)
        #: The market's price unit (gwei in an ETH market): what the ``price_gwei`` column counts.
        self.price_unit = price_unit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as err:
            raise self._damaged(err) from None
        try:
            self._open()
        except sqlite3.Error as err:
            self._db.close()
            raise self._damaged(err) from None
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(str(p) for p in problems[:3]))
            found = self._schema_version()
            while found in _MIGRATIONS:
                statements, found = _MIGRATIONS[found]
                self._migrate(statements, found)
            self._db.executescript(_SCHEMA)
            if found is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            elif found != str(SCHEMA_VERSION):
                raise JournalMismatch(
                    f"the journal {self.path} has schema version {found[:20]!r}, "
                    f"this node understands {SCHEMA_VERSION}",
                    "use the provider-node version that wrote it, or move it away",
                )

    def _schema_version(self) -> str | None:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        return self.get_meta("schema_version") if has_meta else None

    def _migrate(self, statements: list[str], version: str) -> None:
        """One step up, in one transaction: a crash leaves the journal at the old version."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                self._db.execute(statement)
            self.set_meta("schema_version", version)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _damaged(self, err: sqlite3.Error) -> JournalDamaged:
        """How a journal that is not a readable database is reported: what and what to do."""
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return JournalDamaged(
            f"the node's journal {self.path} cannot be read ({detail})",
            f"restore it from a backup, or move it aside (mv {self.path} {self.path}.damaged) "
            "to start a fresh one: the node then reads the chain again but no longer knows "
            "the jobs it had claimed",
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def durable(self) -> Iterator[None]:
        """Writes inside are fsynced when they commit (``synchronous=FULL``)."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                yield
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together (nested uses join the outer transaction)."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._after_commit.clear()
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                try:
                    self._db.execute("COMMIT")
                except BaseException:
                    self._after_commit.clear()
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._run_after_commit()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction has committed, never if it rolls back
        (a log line states only what the journal holds); at once outside a transaction."""
        with self._lock:
            if self._depth == 0:
                callback()
            else:
                self._after_commit.append(callback)

    def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(params))

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchone()

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def bind(self, identity: dict[str, str]) -> None:
        """Record which chain/market/account this journal serves, or check it matches."""
        with self.transaction():
            for key, value in identity.items():
                found = self.get_meta(key)
                if found is None:
                    self.set_meta(key, value)
                elif found.lower() != value.lower():
                    raise JournalMismatch(
                        f"the journal {self.path} belongs to {key} {found}, not {value}",
                        "point JOBMARKET_HOME at this node's own folder",
                    )

    # -- cursor and block hashes -------------------------------------------------------------

    def next_block(self, default: int) -> int:
        row = self._one("SELECT next_block FROM cursor WHERE id = 1")
        return default if row is None else int(row[0])

    def set_next_block(self, number: int) -> None:
        self._execute(
            "INSERT INTO cursor (id, next_block) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET next_block = excluded.next_block",
            (number,),
        )

    def remember_block(self, number: int, block_hash: str) -> None:
        self._execute(
            "INSERT INTO blocks (number, hash) VALUES (?, ?) "
            "ON CONFLICT (number) DO UPDATE SET hash = excluded.hash",
            (number, block_hash.lower()),
        )

    def trim_blocks(self, keep: int = REMEMBERED_BLOCKS) -> None:
        self._execute(
            "DELETE FROM blocks WHERE number NOT IN "
            "(SELECT number FROM blocks ORDER BY number DESC LIMIT ?)",
            (keep,),
        )

    def remembered_blocks(self) -> list[tuple[int, str]]:
        """Remembered (number, hash) pairs, newest first."""
        return [
            (int(n), str(h))
            for n, h in self._all("SELECT number, hash FROM blocks ORDER BY number DESC")
        ]

    def forget_blocks_from(self, number: int) -> None:
        self._execute("DELETE FROM blocks WHERE number >= ?", (number,))

    # -- jobs --------------------------------------------------------------------------------

    def job(self, job_id: int) -> JobRecord | None:
        if not 0 <= job_id <= MAX_JOURNALED_JOB_ID:
            return None  # never journaled (and SQLite could not even compare it)
        row = self._one(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE job_id = ?", (job_id,))
        return None if row is None else JobRecord.from_row(row, self.price_unit)

    def jobs(self, steps: Iterable[Step] | None = None) -> list[JobRecord]:
        sql = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"
        params: list[Any] = []
        if steps is not None:
            wanted = [str(step) for step in steps]
            sql += f" WHERE step IN ({', '.join('?' * len(wanted))})"
            params = wanted
        return [
            JobRecord.from_row(row, self.price_unit)
            for row in self._all(sql + " ORDER BY job_id", params)
        ]

    def record_posted(self, posted: PostedJob) -> str:
        """Journal a JobPosted's terms: ``"new"`` (entered at ``seen``), ``"changed"`` (a
        reorg brought the same id back with another spec, requester or terms: the caller moves
        the job back to ``seen`` through ``lifecycle.advance``) or ``"same"`` (a replay).
        """
        now = time.time()
        existing = self.job(posted.job_id)
        if existing is None and self.compacted(posted.job_id) is not None:
            return "same"  # ended and compacted long ago: a replay changes nothing
        fields = {
            "requester": posted.requester,
            "designated": posted.designated,
            "spec_digest": posted.spec_digest.hex(),
            "price_gwei": posted.price // self.price_unit,
            "collateral": str(posted.collateral),
            "claim_deadline": posted.claim_deadline,
            "work_timeout": posted.work_timeout,
            "review_window": posted.review_window,
            "posted_block": posted.posted_block,
        }
        if existing is None:
            # A job enters the journal at ``seen``, the start of TRANSITIONS; every later step
            # is written by lifecycle.advance alone.
            columns = ["job_id", "step", "open", *fields, "seen_at", "updated_at"]
            values = [posted.job_id, str(Step.SEEN), 1, *fields.values(), now, now]
            self._execute(
                f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(values))})",
                values,
            )
            self._record_step(posted.job_id, Step.SEEN)
            return "new"
        if posted.same_post_as(existing):
            return "same"
        self.update_job(posted.job_id, open=1, seen_at=now, **fields)
        return "changed"

    def update_job(self, job_id: int, **fields: Any) -> None:
        """Write job columns other than the step (moves go through :meth:`write_step`)."""
        if "step" in fields:
            raise ValueError("a job's step is written by provider_node.lifecycle.advance only")
        self._write_columns(job_id, fields)

    def write_step(self, job_id: int, step: Step, **fields: Any) -> None:
        """The SQL that writes a job's step; called by ``lifecycle.advance.advance`` alone,
        which checks the move against TRANSITIONS first."""
        self._write_columns(job_id, {"step": step, **fields})
        self._record_step(job_id, step)

    def _record_step(self, job_id: int, step: Step) -> None:
        """When the job reached ``step``; at ``seen`` (where a job may come back to, again
        and again) the history is cut to its newest :data:`MAX_STEPS_KEPT` entries."""
        self._execute(
            "INSERT INTO job_steps (job_id, step, at) VALUES (?, ?, ?)",
            (job_id, str(step), time.time()),
        )
        if step == Step.SEEN:
            self._execute(
                "DELETE FROM job_steps WHERE job_id = ? AND rowid NOT IN (SELECT rowid FROM "
                "job_steps WHERE job_id = ? ORDER BY rowid DESC LIMIT ?)",
                (job_id, job_id, MAX_STEPS_KEPT),
            )

    def steps(self, job_id: int) -> list[tuple[Step, float]]:
        """The steps the job has been at, oldest first, each with when it got there."""
        rows = self._all(
            "SELECT step, at FROM job_steps WHERE job_id = ? ORDER BY rowid", (job_id,)
        )
        return [(Step(step), float(at)) for step, at in rows]

    def _write_columns(self, job_id: int, fields: dict[str, Any]) -> None:
        if not fields:
            return
        unknown = set(fields) - set(_JOB_COLUMNS)
        if unknown:
            raise KeyError(f"unknown job columns {sorted(unknown)}")
        values = {key: _sql_value(value) for key, value in fields.items()}
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{key} = ?" for key in values)
        self._execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", [*values.values(), job_id])

    def candidates(
        self, wall_now: float, limit: int, exclude: Iterable[int] = ()
    ) -> list[JobRecord]:
        """Open jobs not decided yet, best paid first, skipping those deferred until later
        and those in ``exclude`` (being decided)."""
        skipped = list(exclude)
        rows = self._all(
            f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs "
            "WHERE step = ? AND open = 1 AND not_before <= ? "
            f"AND job_id NOT IN ({', '.join('?' * len(skipped))}) "
            "ORDER BY price_gwei DESC, job_id LIMIT ?",
            (str(Step.SEEN), wall_now, *skipped, limit),
        )
        return [JobRecord.from_row(row, self.price_unit) for row in rows]

    def clear_deferrals(self, waiting: Iterable[Waiting]) -> int:
        """Jobs waiting for one of these things get another look now (room was freed);
        returns how many."""
        wanted = [str(w) for w in waiting]
        cursor = self._execute(
            "UPDATE jobs SET not_before = 0 WHERE step = ? AND not_before > 0 "
            f"AND waiting IN ({', '.join('?' * len(wanted))})",
            (str(Step.SEEN), *wanted),
        )
        return cursor.rowcount

    def step_counts(self) -> dict[str, int]:
        """Jobs by step, compacted ones included."""
        rows = self._all(
            "SELECT step, COUNT(*) FROM (SELECT step FROM jobs UNION ALL "
            "SELECT step FROM compacted_jobs) GROUP BY step"
        )
        return {str(s): int(n) for s, n in rows}

    def earnings(self) -> int:
        """Wei credited to our stake for settled jobs (payouts net of the protocol fee)."""
        rows = self._all(
            "SELECT payout FROM jobs WHERE payout IS NOT NULL UNION ALL "
            "SELECT payout FROM compacted_jobs WHERE payout IS NOT NULL"
        )
        return sum(int(payout) for (payout,) in rows)

    def pending_earnings(self) -> tuple[int, list[JobRecord]]:
        """Wei our submitted, unsettled jobs pay if accepted (price minus fee), and the
        submitted jobs whose fee is not journaled yet (not counted)."""
        total, unknown = 0, []
        for job in self.jobs([Step.SUBMITTED]):
            payout = job.payout_if_accepted
            if payout is None:
                unknown.append(job)
            else:
                total += payout
        return total, unknown

    # -- compaction --------------------------------------------------------------------------

    def ended_before(
        self, steps: Iterable[Step], cutoff: float, limit: int, *, after_job_id: int = -1
    ) -> list[JobRecord]:
        """Jobs at one of ``steps`` whose last change is older than ``cutoff`` (unix s), by
        id from ``after_job_id`` on: the candidates for compaction, a page at a time."""
        wanted = [str(step) for step in steps]
        rows = self._all(
            f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs "
            f"WHERE step IN ({', '.join('?' * len(wanted))}) AND updated_at < ? "
            "AND job_id > ? ORDER BY job_id LIMIT ?",
            (*wanted, cutoff, after_job_id, limit),
        )
        return [JobRecord.from_row(row, self.price_unit) for row in rows]

    def compact(self, job_id: int, *, result_cid: str | None) -> CompactedJob:
        """Replace the job's row and its transactions by one summary row (in the caller's
        transaction, or in one of its own). ``result_cid``: the result this node still pins
        (None: unpinned or none). Every transaction must be mined, reverted or dead."""
        with self.transaction():
            job = self.job(job_id)
            if job is None:
                raise KeyError(f"job {job_id} is not in the journal")
            txs = self.txs(job_id=job_id)
            if any(tx.status in TxStatus.UNFINISHED for tx in txs):
                raise ValueError(f"job {job_id} has a transaction not yet mined or dropped")
            summary = CompactedJob(
                job_id=job_id,
                step=job.step,
                payout=job.payout,
                gas_used=sum(tx.gas_used or 0 for tx in txs),
                gas_cost=sum(tx.gas_cost or 0 for tx in txs),
                result_cid=result_cid,
                seen_at=job.seen_at,
                updated_at=job.updated_at,
            )
            self._execute(
                f"INSERT INTO compacted_jobs ({', '.join(_COMPACTED_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COMPACTED_COLUMNS))})",
                [
                    job_id,
                    str(summary.step),
                    None if summary.payout is None else str(summary.payout),
                    summary.gas_used,
                    str(summary.gas_cost),
                    result_cid,
                    summary.seen_at,
                    summary.updated_at,
                ],
            )
            self._execute("DELETE FROM transactions WHERE job_id = ?", (job_id,))
            self._execute("DELETE FROM job_steps WHERE job_id = ?", (job_id,))
            self._execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        return summary

    def compacted(self, job_id: int) -> CompactedJob | None:
        row = self._one(
            f"SELECT {', '.join(_COMPACTED_COLUMNS)} FROM compacted_jobs WHERE job_id = ?",
            (job_id,),
        )
        return None if row is None else CompactedJob.from_row(row)

    def compacted_with_results(self, limit: int) -> list[CompactedJob]:
        """Compacted jobs whose result this node still pins."""
        rows = self._all(
            f"SELECT {', '.join(_COMPACTED_COLUMNS)} FROM compacted_jobs "
            "WHERE result_cid IS NOT NULL ORDER BY job_id LIMIT ?",
            (limit,),
        )
        return [CompactedJob.from_row(row) for row in rows]

    def forget_results(self, job_ids: Iterable[int]) -> None:
        """The results of these compacted jobs are no longer pinned here."""
        with self.transaction():
            for job_id in job_ids:
                self._execute(
                    "UPDATE compacted_jobs SET result_cid = NULL WHERE job_id = ?", (job_id,)
                )

    # -- transactions ------------------------------------------------------------------------

    def add_tx(
        self,
        *,
        job_id: int | None,
        function: str,
        args: list[Any],
        value: int,
        nonce: int,
        raw: bytes,
        tx_hash: str,
    ) -> TxRecord:
        now = time.time()
        values = (
            job_id,
            function,
            json.dumps(args),
            str(value),
            nonce,
            raw,
            tx_hash.lower(),
            TxStatus.SIGNED,
            now,
            now,
        )
        with self.durable():  # it is about to be broadcast: this record must outlive anything
            cursor = self._execute(
                "INSERT INTO transactions (job_id, function, args, value, nonce, raw, hash, "
                "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        record = self.tx(int(cursor.lastrowid or 0))
        assert record is not None
        return record

    def update_tx(self, tx_id: int, **fields: Any) -> TxRecord:
        values = {key: _sql_value(value) for key, value in fields.items()}
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{key} = ?" for key in values)
        self._execute(
            f"UPDATE transactions SET {assignments} WHERE id = ?", [*values.values(), tx_id]
        )
        record = self.tx(tx_id)
        assert record is not None
        return record

    def tx(self, tx_id: int) -> TxRecord | None:
        row = self._one(f"SELECT {', '.join(_TX_COLUMNS)} FROM transactions WHERE id = ?", (tx_id,))
        return None if row is None else TxRecord.from_row(row)

    def txs(
        self,
        statuses: Iterable[str] | None = None,
        since_block: int | None = None,
        job_id: int | None = None,
    ) -> list[TxRecord]:
        sql = f"SELECT {', '.join(_TX_COLUMNS)} FROM transactions WHERE 1 = 1"
        params: list[Any] = []
        if job_id is not None:
            sql += " AND job_id = ?"
            params.append(job_id)
        if statuses is not None:
            wanted = list(statuses)
            sql += f" AND status IN ({', '.join('?' * len(wanted))})"
            params += wanted
        if since_block is not None:
            sql += " AND block_number >= ?"
            params.append(since_block)
        return [TxRecord.from_row(row) for row in self._all(sql + " ORDER BY nonce, id", params)]

    def latest_tx(self, job_id: int, function: str) -> TxRecord | None:
        row = self._one(
            f"SELECT {', '.join(_TX_COLUMNS)} FROM transactions "
            "WHERE job_id = ? AND function = ? ORDER BY id DESC LIMIT 1",
            (job_id, function),
        )
        return None if row is None else TxRecord.from_row(row)

    def highest_used_nonce(self) -> int | None:
        row = self._one(
            f"SELECT MAX(nonce) FROM transactions WHERE status IN "
            f"({', '.join('?' * len(TxStatus.NONCE_USED))})",
            TxStatus.NONCE_USED,
        )
        return None if row is None or row[0] is None else int(row[0])

    def gas_spent(self) -> int:
        """Gas used by every mined transaction, compacted jobs' included."""
        row = self._one(
            "SELECT (SELECT COALESCE(SUM(gas_used), 0) FROM transactions) + "
            "(SELECT COALESCE(SUM(gas_used), 0) FROM compacted_jobs)"
        )
        return int(row[0]) if row else 0

    def gas_cost(self) -> int:
        """Wei paid for gas (gas used times the receipt's effective price), over the
        transactions whose price is journaled and the compacted jobs."""
        total = sum(
            int(used) * int(price)
            for used, price in self._all(
                "SELECT gas_used, gas_price FROM transactions "
                "WHERE gas_used IS NOT NULL AND gas_price IS NOT NULL"
            )
        )
        compacted = self._all("SELECT gas_cost FROM compacted_jobs")
        return total + sum(int(cost) for (cost,) in compacted)

    def gas_prices_missing(self, job_id: int | None = None) -> list[TxRecord]:
        """Mined or reverted transactions journaled without their gas price (before schema
        3): their receipts are read again to price them."""
        return [
            tx
            for tx in (self.txs(job_id=job_id) if job_id is not None else self.txs())
            if tx.gas_used is not None and tx.gas_price is None
        ]


def _sql_value(value: Any) -> Any:
    if isinstance(value, Step):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int) and abs(value) >= 2**63:
        return str(value)
    return value
