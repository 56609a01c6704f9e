"""The run store: one SQLite file in WAL mode that many processes write at once.

Every write is one short ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so a
reader never has to upgrade and deadlock), waits on ``busy_timeout`` and is retried with jittered
backoff, so parallel jobs lose no rows and never see "database is locked". A file is checked
read-only before anything is written to it: a corrupt, foreign or newer file is refused, untouched.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jouleflow.records import RunResult
from jouleflow.store._checks import (
    BUSY_TIMEOUT_S,
    FIX_OTHER_FILE,
    check_existing,
    default_db_path,
    is_busy,
    jouleflow_version,
    process_alive,
    refuse_unless_ours,
    translate,
)
from jouleflow.store.codec import result_from_document, unpack_cum
from jouleflow.store.errors import StoreError, UnknownRunError
from jouleflow.store.schema import SCHEMA_VERSION, migrate, user_version

T = TypeVar("T")

RETRY_FOR_S = 120.0  # then retried with backoff for this long before giving up
STALE_AFTER_S = 60.0  # a run on another host with no flush for this long is incomplete
_SUMMARY = (
    "key, id, name, command, status, exit_code, started_at, started_unix, start_ns, end_ns,"
    " updated_unix, total_j, measured_j, estimated_j, samples, hostname, pid,"
    " process_started_unix"
)


@dataclass(frozen=True, slots=True)
class StoredRun:
    """One row of the run list: what ``jouleflow runs`` shows."""

    key: int
    id: str
    name: str | None
    command: tuple[str, ...] | None
    status: str  # completed | failed | interrupted | running | incomplete
    exit_code: int | None
    started_at: str
    started_unix: float
    duration_s: float
    total_j: float
    measured_j: float
    estimated_j: float
    samples: int
    hostname: str
    pid: int
    updated_unix: float
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "total_j": self.total_j,
            "measured_j": self.measured_j,
            "estimated_j": self.estimated_j,
            "carbon_g": None,  # issue 4: carbon figures are not stored yet
            "command": list(self.command) if self.command is not None else None,
            "hostname": self.hostname,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True, slots=True)
class Flush:
    """What one flush of a live run writes: new samples and the running totals."""

    samples: Sequence[tuple[int, bytes]]
    end_ns: int
    total_j: float
    measured_j: float
    estimated_j: float
    sample_count: int
    document: str  # the result document so far, JSON
    status: str = "running"
    exit_code: int | None = None


class RunStore:
    """An open run store. Open with :meth:`open`; usable from one process (reopen after fork)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._host = socket.gethostname()

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> RunStore:
        """Open (creating if needed) the store at ``path`` (default: :func:`default_db_path`)."""
        db = Path(path).expanduser() if path is not None else default_db_path()
        if db.is_dir():
            raise StoreError(f"{db} is a folder, not a run store", path=db, fix=FIX_OTHER_FILE)
        empty = not db.exists() or db.stat().st_size == 0
        if not empty:
            check_existing(db)
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(db), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as err:
            raise StoreError(
                f"cannot open the run store {db}: {err}",
                path=db,
                fix="check the folder's permissions, or pass --db PATH / --no-store",
            ) from err
        store = cls(db, conn)
        try:
            store._initialise(empty)
        except BaseException:
            conn.close()
            raise
        return store

    def _initialise(self, empty: bool) -> None:
        def settings(conn: sqlite3.Connection) -> None:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against process death

        self._retry(settings, begin=False)
        if empty:
            self._retry(lambda c: c.execute("PRAGMA auto_vacuum = INCREMENTAL"), begin=False)
        mode = self._retry(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0], begin=False)
        if str(mode).lower() != "wal":
            self._retry(lambda c: c.execute("PRAGMA journal_mode = WAL"), begin=False)

        def check_and_migrate(conn: sqlite3.Connection) -> None:
            refuse_unless_ours(conn, self.path)
            if user_version(conn) < SCHEMA_VERSION:
                migrate(conn)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_written_by', ?)",
                    (jouleflow_version(),),
                )

        if empty or self._read(user_version) < SCHEMA_VERSION:
            self._retry(check_and_migrate)  # a write: only when there is something to write

    def close(self) -> None:
        if os.getpid() == self._pid:
            self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one way to touch the database --------------------------------------------------
    def _retry(self, work: Callable[[sqlite3.Connection], T], *, begin: bool = True) -> T:
        """Run ``work`` (in one write transaction if ``begin``), retrying while the file is busy."""
        if os.getpid() != self._pid:
            raise StoreError(
                "a run store connection cannot be used after fork()",
                path=self.path,
                fix="open the store again in the child process",
            )
        deadline = time.monotonic() + RETRY_FOR_S
        delay_s = 0.002
        with self._lock:
            while True:
                try:
                    if not begin:
                        return work(self._conn)
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        value = work(self._conn)
                        self._conn.execute("COMMIT")
                    except BaseException:
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
                        raise
                    return value
                except sqlite3.OperationalError as err:
                    if not is_busy(err) or time.monotonic() > deadline:
                        raise translate(err, self.path) from err
                    time.sleep(delay_s * random.uniform(0.5, 1.5))
                    delay_s = min(delay_s * 2, 0.25)
                except sqlite3.Error as err:
                    raise translate(err, self.path) from err

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self._retry(work, begin=False)

    # -- writing (the recorder) -------------------------------------------------------------
    def create_run(
        self,
        *,
        run_id: str,
        name: str | None,
        command: Sequence[str] | None,
        started_at: str,
        start_ns: int,
        domains: Sequence[str],
        tags: dict[str, str],
        document: str,
        pid: int | None = None,
        process_started_unix: float | None = None,
        started_unix: float | None = None,
    ) -> int:
        """Insert a ``running`` run; returns its key for :meth:`flush`."""
        now = time.time()

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO runs (id, name, command, status, started_at, started_unix,"
                " start_ns, end_ns, updated_unix, hostname, pid, process_started_unix,"
                " jouleflow_version, domains, document)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    name,
                    json.dumps(list(command)) if command is not None else None,
                    started_at,
                    started_unix if started_unix is not None else now,
                    start_ns,
                    start_ns,
                    now,
                    self._host,
                    pid if pid is not None else os.getpid(),
                    process_started_unix,
                    jouleflow_version(),
                    json.dumps(list(domains)),
                    document,
                ),
            )
            key = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO tags (run, key, value) VALUES (?, ?, ?)",
                [(key, k, v) for k, v in tags.items()],
            )
            return key

        return self._retry(insert)

    def flush(self, key: int, flush: Flush) -> bool:
        """Write new samples and the running totals; False if the run was removed meanwhile."""

        def write(conn: sqlite3.Connection) -> bool:
            conn.executemany(
                "INSERT OR REPLACE INTO samples (run, t_ns, cum_uj) VALUES (?, ?, ?)",
                [(key, t, blob) for t, blob in flush.samples],
            )
            cursor = conn.execute(
                "UPDATE runs SET end_ns = ?, updated_unix = ?, total_j = ?, measured_j = ?,"
                " estimated_j = ?, samples = ?, document = ?, status = ?, exit_code = ?"
                " WHERE key = ?",
                (
                    flush.end_ns,
                    time.time(),
                    flush.total_j,
                    flush.measured_j,
                    flush.estimated_j,
                    flush.sample_count,
                    flush.document,
                    flush.status,
                    flush.exit_code,
                    key,
                ),
            )
            if cursor.rowcount == 0:
                conn.execute("DELETE FROM samples WHERE run = ?", (key,))
                return False
            return True

        return self._retry(write)

    # -- reading ----------------------------------------------------------------------------
    def runs(
        self,
        *,
        since_unix: float | None = None,
        before_unix: float | None = None,
        name: str | None = None,
        status: str | None = None,
        tags: dict[str, str | None] | None = None,
        limit: int | None = None,
    ) -> list[StoredRun]:
        """Runs newest first. ``name`` is a substring, or a glob when it has ``*?[``;
        a tag value of None matches any value of that key."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if since_unix is not None:
            where.append("started_unix >= ?")
            params.append(since_unix)
        if before_unix is not None:
            where.append("started_unix < ?")
            params.append(before_unix)
        if name is not None:
            if any(ch in name for ch in "*?["):
                where.append("name GLOB ?")
                params.append(name)
            else:
                where.append("instr(lower(name), ?) > 0")
                params.append(name.lower())
        for key, value in (tags or {}).items():
            if value is None:
                where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run = runs.key AND t.key = ?)")
                params.append(key)
            else:
                where.append(
                    "EXISTS (SELECT 1 FROM tags t WHERE t.run = runs.key AND t.key = ?"
                    " AND t.value = ?)"
                )
                params += [key, value]
        if status in ("completed", "failed", "interrupted"):
            where.append("status = ?")
            params.append(status)
        elif status in ("running", "incomplete"):
            where.append("status = 'running'")
        sql = (
            f"SELECT {_SUMMARY} FROM runs WHERE {' AND '.join(where)}"
            " ORDER BY started_unix DESC, key DESC"
        )
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        found = [r for r in self._summaries(rows) if status is None or r.status == status]
        return found[:limit] if limit else found

    def resolve(self, ref: str) -> StoredRun:
        """A run by id, unique id prefix (dashes ignored), or ``last`` (the newest)."""
        text = ref.strip().lower().replace("-", "")
        if text == "last":
            rows = self._read(
                lambda c: c.execute(
                    f"SELECT {_SUMMARY} FROM runs ORDER BY started_unix DESC, key DESC LIMIT 1"
                ).fetchall()
            )
            if not rows:
                raise UnknownRunError(f"no runs yet in {self.path}", path=self.path)
            return self._summaries(rows)[0]
        if not text or any(ch not in "0123456789abcdef" for ch in text):
            raise UnknownRunError(
                f"no run {ref!r} in {self.path}: a run is an id, a unique id prefix, or 'last'",
                path=self.path,
                fix="`jouleflow runs` lists the runs and their ids",
            )
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {_SUMMARY} FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started_unix"
                " DESC LIMIT 6",
                (len(text), text),
            ).fetchall()
        )
        if not rows:
            raise UnknownRunError(
                f"no run {ref!r} in {self.path}",
                path=self.path,
                fix="`jouleflow runs` lists the runs and their ids",
            )
        if len(rows) > 1:
            shown = ", ".join(str(r[1])[:12] for r in rows[:5])
            raise UnknownRunError(
                f"{ref!r} is ambiguous in {self.path}: it starts {len(rows)}"
                f"{'+' if len(rows) > 5 else ''} run ids ({shown})",
                path=self.path,
                fix="type more characters of the id",
            )
        return self._summaries(rows)[0]

    def result(self, run: StoredRun | str) -> RunResult:
        """The run's result: final, or as of its last flush (``running`` / ``incomplete``)."""
        stored = run if isinstance(run, StoredRun) else self.resolve(run)
        row = self._read(
            lambda c: c.execute("SELECT document FROM runs WHERE key = ?", (stored.key,)).fetchone()
        )
        if row is None or row[0] is None:
            raise UnknownRunError(f"run {stored.id} was removed from {self.path}", path=self.path)
        try:
            return result_from_document(json.loads(row[0]), status=stored.status)
        except (ValueError, KeyError, TypeError) as err:
            raise StoreError(
                f"run {stored.id} in {self.path} has an unreadable result document: {err}",
                path=self.path,
            ) from err

    def samples(
        self, run: StoredRun
    ) -> tuple[tuple[str, ...], list[tuple[int, tuple[float, ...]]]]:
        """The stored samples of a run: (domain ids, [(t_ns, cumulative µJ per domain)])."""

        def read(c: sqlite3.Connection) -> tuple[str, list[tuple[int, bytes]]]:
            domains = c.execute("SELECT domains FROM runs WHERE key = ?", (run.key,)).fetchone()
            rows = c.execute(
                "SELECT t_ns, cum_uj FROM samples WHERE run = ? ORDER BY t_ns", (run.key,)
            ).fetchall()
            return (domains[0] if domains else "[]"), rows

        domains_json, rows = self._read(read)
        return tuple(json.loads(domains_json)), [(int(t), unpack_cum(b)) for t, b in rows]

    def sample_count(self) -> int:
        return int(self._read(lambda c: c.execute("SELECT count(*) FROM samples").fetchone()[0]))

    # -- removing ---------------------------------------------------------------------------
    def delete(self, runs: Iterable[StoredRun]) -> int:
        keys = [(r.key,) for r in runs]

        def remove(conn: sqlite3.Connection) -> int:
            conn.executemany("DELETE FROM samples WHERE run = ?", keys)
            conn.executemany("DELETE FROM tags WHERE run = ?", keys)
            before = conn.total_changes
            conn.executemany("DELETE FROM runs WHERE key = ?", keys)
            return conn.total_changes - before

        removed = self._retry(remove)
        if removed:
            self._read(lambda c: c.execute("PRAGMA incremental_vacuum").fetchall())
        return removed

    # -- helpers ----------------------------------------------------------------------------
    def _summaries(self, rows: Sequence[Sequence[Any]]) -> list[StoredRun]:
        keys = [int(r[0]) for r in rows]
        tags: dict[int, dict[str, str]] = {k: {} for k in keys}

        def read_tags(conn: sqlite3.Connection) -> None:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT run, key, value FROM tags WHERE run IN ({marks})"
                for run, key, value in conn.execute(sql, chunk):
                    tags[int(run)][key] = value

        self._read(read_tags)
        now = time.time()
        return [
            StoredRun(
                key=int(r[0]),
                id=r[1],
                name=r[2],
                command=tuple(json.loads(r[3])) if r[3] is not None else None,
                status=self._effective_status(r[4], r[15], int(r[16]), r[17], float(r[10]), now),
                exit_code=r[5],
                started_at=r[6],
                started_unix=float(r[7]),
                duration_s=max(int(r[9]) - int(r[8]), 0) / 1e9,
                total_j=float(r[11]),
                measured_j=float(r[12]),
                estimated_j=float(r[13]),
                samples=int(r[14]),
                hostname=r[15],
                pid=int(r[16]),
                updated_unix=float(r[10]),
                tags=tags[int(r[0])],
            )
            for r in rows
        ]

    def _effective_status(
        self,
        status: str,
        hostname: str,
        pid: int,
        process_started_unix: float | None,
        updated_unix: float,
        now: float,
    ) -> str:
        """A ``running`` row whose process is gone is ``incomplete`` (killed, crashed)."""
        if status != "running":
            return status
        if hostname == self._host:
            return "running" if process_alive(pid, process_started_unix) else "incomplete"
        return "running" if now - updated_unix < STALE_AFTER_S else "incomplete"
