"""The journal as version 2 of the node wrote it (before journaled gas prices, fees and
compacted jobs): kept verbatim so the migration to 3 is tested against the real old layout."""

SCHEMA_V2 = """
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
    updated_at REAL NOT NULL
);
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
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_job ON transactions (job_id, function);
CREATE INDEX IF NOT EXISTS transactions_by_status ON transactions (status);
"""
