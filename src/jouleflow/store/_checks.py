"""Checks on a store file before anything writes to it, and SQLite's errors in words.

Everything here only reads: a file that is not a usable jouleflow store is refused untouched.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from jouleflow.store.errors import StoreError
from jouleflow.store.schema import APPLICATION_ID, SCHEMA_VERSION, user_version

BUSY_TIMEOUT_S = 10.0  # one wait inside SQLite
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
FIX_OTHER_FILE = "move the file aside, or pass --db / JOULEFLOW_DB with another path"


def default_db_path() -> Path:
    """``JOULEFLOW_DB`` if set, else ``runs.db`` in the user's data folder (platformdirs)."""
    env = os.environ.get("JOULEFLOW_DB")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("jouleflow", appauthor=False) / "runs.db"


def is_busy(err: sqlite3.Error) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(err).lower()
    return "locked" in text or "busy" in text


def process_alive(pid: int, started_unix: float | None) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        if started_unix is not None and abs(process.create_time() - started_unix) > 1.0:
            return False  # the pid was reused by another process
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def process_started_unix() -> float | None:
    """When this process started, to tell it apart from a later one that reuses its pid."""
    import psutil

    try:
        return float(psutil.Process().create_time())
    except psutil.Error:
        return None


def jouleflow_version() -> str:
    from jouleflow import __version__

    return __version__


def translate(err: sqlite3.Error, path: Path) -> StoreError:
    text = str(err)
    if "malformed" in text or "not a database" in text:
        return StoreError(
            f"{path} is damaged: {text}",
            path=path,
            fix="restore it from a backup, or move it aside",
        )
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"{path} is read-only: {text}",
            path=path,
            fix="check the file's permissions, or pass --db PATH / --no-store",
        )
    return StoreError(f"run store {path}: {text}", path=path)


def check_existing(db: Path) -> None:
    """Read-only checks before anything writes to an existing file; the file stays untouched."""
    try:
        with open(db, "rb") as handle:
            header = handle.read(100)
    except OSError as err:
        raise StoreError(f"cannot read the run store {db}: {err.strerror}", path=db) from err
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StoreError(
            f"{db} is not a jouleflow run store: it is not an SQLite database",
            path=db,
            fix=FIX_OTHER_FILE,
        )
    uri = db.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as err:
        raise translate(err, db) from err
    try:
        refuse_unless_ours(conn, db)
    except sqlite3.Error as err:
        raise translate(err, db) from err
    finally:
        conn.close()


def refuse_unless_ours(conn: sqlite3.Connection, db: Path) -> None:
    # One statement, so one snapshot: read apart, another opener's first migration could commit
    # in between, and its tables seen without its application id look like someone else's file.
    app_id, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id),"
        " (SELECT count(*) FROM sqlite_master)"  # parses the schema
    ).fetchone()
    if int(app_id) != APPLICATION_ID:
        if int(app_id) != 0 or tables:
            raise StoreError(
                f"{db} is not a jouleflow run store: it is another application's SQLite database",
                path=db,
                fix=FIX_OTHER_FILE,
            )
        return
    version = user_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{db} was written by a newer jouleflow (store schema v{version}; this jouleflow"
            f" {jouleflow_version()} reads up to v{SCHEMA_VERSION}); it was left untouched",
            path=db,
            fix="upgrade jouleflow (pip install -U jouleflow), or pass --db with another path",
        )
