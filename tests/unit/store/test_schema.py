"""Opening a file: new, ours at an older version (migrated), newer, foreign, corrupt."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from jouleflow.store import SCHEMA_VERSION, RunStore, StoreError
from jouleflow.store.schema import APPLICATION_ID

FIXTURE_V1 = Path(__file__).resolve().parents[2] / "fixtures" / "store_v1.db"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pragmas(path: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("PRAGMA application_id").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
            conn.execute("PRAGMA journal_mode").fetchone()[0],
        )
    finally:
        conn.close()


def test_a_new_store_is_marked_versioned_and_in_wal_mode(tmp_path):
    path = tmp_path / "deep" / "folder" / "runs.db"
    RunStore.open(path).close()
    assert pragmas(path) == (APPLICATION_ID, SCHEMA_VERSION, "wal")
    assert SCHEMA_VERSION == 2


def test_an_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "runs.db"
    path.touch()
    with RunStore.open(path) as store:
        assert store.runs() == []
    assert pragmas(path)[:2] == (APPLICATION_ID, SCHEMA_VERSION)


def test_a_v1_store_migrates_forward_keeping_runs_samples_and_tags(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE_V1, path)
    assert pragmas(path)[1] == 1
    with RunStore.open(path) as store:
        runs = store.runs()
        assert [r.name for r in runs] == ["tuned", "baseline"]  # newest first
        baseline = store.resolve("1f0c5b9e")
        assert baseline.tags == {"model": "resnet", "lr": "0.1"}
        assert store.runs(tags={"lr": "0.1"}) == [baseline]  # tags are searchable now
        assert [r.name for r in store.runs(tags={"model": "resnet"})] == ["tuned", "baseline"]
        result = store.result(baseline)
        assert result.total_j == pytest.approx(460.0)
        assert result.phase("train").count == 2
        domains, samples = store.samples(baseline)
        assert domains == ("rapl:package-0", "rapl:package-0:core", "rapl:package-0:dram")
        assert len(samples) == 101 and samples[-1][1][0] == pytest.approx(400e6)
        tuned = store.resolve("7a2e")
        assert (tuned.status, tuned.exit_code) == ("failed", 3)
    assert pragmas(path)[:2] == (APPLICATION_ID, 2)
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert "tags_json" not in columns
    assert {"runs_by_start", "tags_by_value"} <= indexes
    with RunStore.open(path) as again:  # a second open is a no-op
        assert len(again.runs()) == 2


def test_a_newer_store_is_refused_untouched(tmp_path):
    path = tmp_path / "future.db"
    RunStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError) as caught:
        RunStore.open(path)
    message = str(caught.value)
    assert str(path) in message and "newer jouleflow" in message and "v99" in message
    assert "upgrade jouleflow" in message and caught.value.path == path
    assert digest(path) == before


def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="another application's SQLite database") as caught:
        RunStore.open(path)
    assert str(path) in str(caught.value)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal / -shm left


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 20, b"SQLite format 3\x00short", bytes(range(256)) * 64],
    ids=["text", "truncated-header", "binary"],
)
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path, content):
    path = tmp_path / "runs.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not an SQLite database") as caught:
        RunStore.open(path)
    assert str(path) in str(caught.value) and caught.value.fix
    assert path.read_bytes() == content


def test_a_damaged_store_is_refused_untouched(tmp_path):
    path = tmp_path / "runs.db"
    shutil.copy(FIXTURE_V1, path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1's b-tree (the schema) is garbage now
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as caught:
        RunStore.open(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == bytes(data)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        RunStore.open(tmp_path)


@pytest.mark.parametrize("commit_at", [1, 2, 3])
def test_a_store_created_while_it_is_checked_is_not_taken_for_a_foreign_file(tmp_path, commit_at):
    """Two first openers race: one checks the file while the other's first migration commits."""
    from jouleflow.store._checks import refuse_unless_ours

    db = tmp_path / "runs.db"
    sqlite3.connect(db).execute("PRAGMA journal_mode = WAL").connection.close()  # no schema yet
    checker = sqlite3.connect(db.as_uri() + "?mode=ro", uri=True)
    statements: list[str] = []

    def the_other_opener_commits_at_one_step(sql: str) -> None:
        statements.append(sql)
        if len(statements) == commit_at:
            RunStore.open(db).close()

    checker.set_trace_callback(the_other_opener_commits_at_one_step)
    refuse_unless_ours(checker, db)  # whenever the schema lands, it is ours: no refusal
    checker.close()
    assert RunStore.open(db).path == db
