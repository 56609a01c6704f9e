"""The run store's SQLite layout, versioned, with forward-only migrations.

The version lives in ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file as a
jouleflow store, so a foreign SQLite file is never mistaken for one. A new database is built by
running every migration from 0, so the path an old database takes is the path every new one took.
Migrations are append-only: once released, a migration's text never changes.

    v1  runs (tags as a JSON column), samples, meta
    v2  tags in their own table, indexed by key and value (searchable); runs indexed by start
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x4A464C57  # "JFLW"
SCHEMA_VERSION = 2

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    key                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    name                 TEXT,
    command              TEXT,
    status               TEXT NOT NULL,
    exit_code            INTEGER,
    started_at           TEXT NOT NULL,
    started_unix         REAL NOT NULL,
    start_ns             INTEGER NOT NULL,
    end_ns               INTEGER NOT NULL,
    updated_unix         REAL NOT NULL,
    total_j              REAL NOT NULL DEFAULT 0,
    measured_j           REAL NOT NULL DEFAULT 0,
    estimated_j          REAL NOT NULL DEFAULT 0,
    samples              INTEGER NOT NULL DEFAULT 0,
    hostname             TEXT NOT NULL,
    pid                  INTEGER NOT NULL,
    process_started_unix REAL,
    jouleflow_version    TEXT NOT NULL,
    domains              TEXT NOT NULL,
    document             TEXT,
    tags_json            TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE samples (
    run    INTEGER NOT NULL,
    t_ns   INTEGER NOT NULL,
    cum_uj BLOB NOT NULL,
    PRIMARY KEY (run, t_ns)
) WITHOUT ROWID;
"""

_V2_RUNS = """
CREATE TABLE runs_v2 (
    key                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    name                 TEXT,
    command              TEXT,
    status               TEXT NOT NULL,
    exit_code            INTEGER,
    started_at           TEXT NOT NULL,
    started_unix         REAL NOT NULL,
    start_ns             INTEGER NOT NULL,
    end_ns               INTEGER NOT NULL,
    updated_unix         REAL NOT NULL,
    total_j              REAL NOT NULL DEFAULT 0,
    measured_j           REAL NOT NULL DEFAULT 0,
    estimated_j          REAL NOT NULL DEFAULT 0,
    samples              INTEGER NOT NULL DEFAULT 0,
    hostname             TEXT NOT NULL,
    pid                  INTEGER NOT NULL,
    process_started_unix REAL,
    jouleflow_version    TEXT NOT NULL,
    domains              TEXT NOT NULL,
    document             TEXT
)
"""

_RUN_COLUMNS = (
    "key, id, name, command, status, exit_code, started_at, started_unix, start_ns, end_ns, "
    "updated_unix, total_j, measured_j, estimated_j, samples, hostname, pid, "
    "process_started_unix, jouleflow_version, domains, document"
)


def _v1(conn: sqlite3.Connection) -> None:
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v2(conn: sqlite3.Connection) -> None:
    """Tags move out of ``runs.tags_json`` into a table of their own (rebuilding ``runs``)."""
    conn.execute(
        "CREATE TABLE tags (run INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY (run, key)) WITHOUT ROWID"
    )
    rows = conn.execute("SELECT key, tags_json FROM runs").fetchall()
    for run_key, tags_json in rows:
        tags = json.loads(tags_json or "{}")
        conn.executemany(
            "INSERT INTO tags (run, key, value) VALUES (?, ?, ?)",
            [(run_key, str(k), str(v)) for k, v in tags.items()],
        )
    conn.execute(_V2_RUNS)
    conn.execute(f"INSERT INTO runs_v2 ({_RUN_COLUMNS}) SELECT {_RUN_COLUMNS} FROM runs")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs_v2 RENAME TO runs")
    conn.execute("CREATE INDEX runs_by_start ON runs (started_unix)")
    conn.execute("CREATE INDEX tags_by_value ON tags (key, value)")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1, 2: _v2}


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations after the database's version up to ``target``; returns the start.

    Runs inside the caller's transaction (``BEGIN IMMEDIATE``), so concurrent openers serialise
    and each migration is applied once, all or nothing.
    """
    start = user_version(conn)
    if start == 0:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for version in range(start + 1, target + 1):
        MIGRATIONS[version](conn)
    if target > start:
        conn.execute(f"PRAGMA user_version = {target}")
    return start
