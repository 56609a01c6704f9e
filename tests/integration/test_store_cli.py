"""The history commands as a user types them: runs, show, export, compare, rm, gc."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
import subprocess
import sys
import time

import pytest

import jouleflow
from jouleflow.cli.main import main
from jouleflow.store import Recorder, RunStore
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket


@pytest.fixture
def cli(monkeypatch, capsys):
    """Runs ``jouleflow ARGS`` in this process; returns (exit code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["jouleflow", *args])
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Three real runs on a simulated socket (40 W package, 6 W DRAM), and their results."""
    base = tmp_path_factory.mktemp("measured")
    db = base / "runs.db"
    tree = single_socket(base / "sys")
    traces = {z.link: ConstantPower(w) for z, w in zip(tree.zones, (40.0, 25.0, 6.0))}
    results = []
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        for name, seconds, tags in (
            ("baseline", 0.2, {"model": "resnet", "lr": "0.1"}),
            ("tuned", 0.4, {"model": "resnet", "lr": "0.2"}),
            ("eval", 0.1, {}),
        ):
            with jouleflow.track(
                name, db=db, tags=tags, powercap_root=str(tree.root), gpus=False, interval_s=0.05
            ) as run:
                with run.phase("load"):
                    time.sleep(seconds / 2)
                with run.phase("step"):
                    time.sleep(seconds / 2)
            results.append(run.result)
    return db, results


@pytest.fixture
def db(measured, tmp_path):
    """A fresh copy of the measured store for each test (some remove runs)."""
    path = tmp_path / "runs.db"
    with sqlite3.connect(measured[0]) as source, sqlite3.connect(path) as target:
        source.backup(target)
    return str(path)


def test_runs_lists_newest_first_with_filters(cli, db, measured):
    code, out, _ = cli("runs", "--db", db)
    assert code == 0
    assert out.index("eval") < out.index("tuned") < out.index("baseline")
    assert "completed" in out and "model=resnet" in out
    code, out, _ = cli("runs", "--db", db, "--json")
    listed = json.loads(out)
    assert [r["name"] for r in listed] == ["eval", "tuned", "baseline"]
    assert listed[2]["total_j"] == pytest.approx(measured[1][0].total_j)
    assert listed[2]["carbon_g"] is None and listed[2]["tags"]["lr"] == "0.1"
    names = lambda *a: [r["name"] for r in json.loads(cli("runs", "--db", db, "--json", *a)[1])]  # noqa: E731
    assert names("--tag", "lr=0.2") == ["tuned"]
    assert names("--tag", "model") == ["tuned", "baseline"]
    assert names("--name", "base") == ["baseline"]
    assert names("--status", "failed") == []
    assert names("--since", "1h") == ["eval", "tuned", "baseline"]
    assert names("--since", "2999-01-01") == []
    assert names("--limit", "1") == ["eval"]
    code, out, _ = cli("runs", "--db", db, "--limit", "2")
    assert "baseline" not in out and "more runs match" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "--since", "yesterday"), "neither a duration"),
        (("runs", "--status", "exploded"), "exploded"),
        (("runs", "--tag", "=x"), "KEY=VALUE"),
        (("gc", "--older-than", "soon"), "not a duration"),
        (("show", "ffffffff"), "no run 'ffffffff'"),
        (("show", "zz"), "an id, a unique id prefix, or 'last'"),
        (("rm", "ffff"), "no run 'ffff'"),
        (("export", "last", "--format", "parquet"), "--output"),
        (("export", "last", "--codecarbon"), "--format csv"),
        (("compare", "last", "ffff"), "no run 'ffff'"),
    ],
)
def test_bad_values_and_unknown_runs_exit_2_with_a_clear_message(cli, db, args, message):
    code, _, err = cli(*args, "--db", db)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_an_ambiguous_prefix_exits_2_and_lists_the_candidates(cli, db, measured):
    result = measured[1][0]
    for suffix in ("1", "2"):
        twin = dataclasses.replace(result, run_id="abcd" + suffix * 28)
        recorder = Recorder.open(db)
        recorder.begin(lambda twin=twin: twin, flush_thread=False)
        recorder.finish(twin)
    code, _, err = cli("show", "abcd", "--db", db)
    assert code == 2 and "ambiguous" in err and "abcd1111" in err and "abcd2222" in err
    assert cli("show", "abcd1", "--db", db)[0] == 0


def test_show_prints_components_phases_host_and_sensors(cli, db, measured):
    baseline = measured[1][0]
    for ref in (baseline.run_id, baseline.run_id[:7], baseline.run_id.upper()):
        code, out, _ = cli("show", ref, "--db", db)
        assert code == 0 and baseline.run_id in out
    code, out, _ = cli("show", "last", "--db", db)
    assert code == 0 and "eval" in out
    code, out, _ = cli("show", baseline.run_id, "--db", db)
    for expected in (
        "CPU package-0",
        "measured (powercap energy counter)",
        "phases",
        "load",
        "host and hardware",
        "cpu_model",
        "jouleflow",
        "sensors",
        "powercap",
        "carbon",
        "model=resnet",
    ):
        assert expected in out, expected
    code, out, _ = cli("show", baseline.run_id[:8], "--json", "--db", db)
    assert json.loads(out) == json.loads(json.dumps(baseline.to_dict()))


def test_export_json_csv_parquet_and_codecarbon(cli, db, measured, tmp_path):
    baseline, tuned, _ = measured[1]
    code, out, _ = cli("export", baseline.run_id[:8], "--db", db)
    assert code == 0 and json.loads(out)["run_id"] == baseline.run_id
    code, out, _ = cli("export", baseline.run_id[:8], tuned.run_id[:8], "--db", db)
    assert [d["name"] for d in json.loads(out)] == ["baseline", "tuned"]
    code, out, _ = cli(
        "export", baseline.run_id[:8], tuned.run_id[:8], "--format", "csv", "--db", db
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["baseline", "tuned"]
    assert float(rows[0]["rapl:package-0_j"]) == pytest.approx(
        baseline.component("rapl:package-0").energy_j
    )
    code, out, _ = cli("export", "last", "--format", "csv", "--codecarbon", "--db", db)
    header = out.splitlines()[0].split(",")
    assert header[:5] == ["timestamp", "project_name", "run_id", "experiment_id", "duration"]
    assert header[-3:] == ["tracking_mode", "on_cloud", "pue"] and len(header) == 32
    code, out, _ = cli("export", baseline.run_id[:8], "--samples", "--format", "csv", "--db", db)
    samples = list(csv.DictReader(io.StringIO(out)))
    assert len(samples) >= 3 and float(samples[0]["t_s"]) == 0.0
    assert float(samples[-1]["rapl:package-0_j"]) == pytest.approx(
        baseline.component("rapl:package-0").energy_j
    )
    pq = pytest.importorskip("pyarrow.parquet")
    out_file = tmp_path / "runs.parquet"
    code, _, err = cli(
        "export",
        "last",
        baseline.run_id[:8],
        "--format",
        "parquet",
        "-o",
        str(out_file),
        "--db",
        db,
    )
    assert code == 0, err
    assert pq.read_table(out_file).column("name").to_pylist() == ["eval", "baseline"]


def test_parquet_without_pyarrow_names_the_extra(cli, db, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = cli(
        "export", "last", "--format", "parquet", "-o", str(tmp_path / "x.pq"), "--db", db
    )
    assert code == 2 and "pip install 'jouleflow[parquet]'" in err


def test_compare_shows_differences_per_component_and_phase(cli, db, measured):
    baseline, tuned, _ = measured[1]
    code, out, _ = cli("compare", baseline.run_id[:8], tuned.run_id[:8], "--json", "--db", db)
    diff = json.loads(out)
    package = next(c for c in diff["components"] if c["id"] == "rapl:package-0")
    a_j, b_j = (r.component("rapl:package-0").energy_j for r in (baseline, tuned))
    assert package["delta_j"] == pytest.approx(b_j - a_j)
    assert package["delta_pct"] == pytest.approx((b_j - a_j) / a_j * 100)
    assert package["delta_pct"] > 50  # tuned ran twice as long at the same power
    assert [p["name"] for p in diff["phases"]] == ["load", "step"]
    code, out, _ = cli("compare", baseline.run_id[:8], tuned.run_id[:8], "--db", db)
    assert code == 0 and "B - A" in out and "step" in out and "%" in out


def test_rm_and_gc(cli, db, measured):
    baseline = measured[1][0]
    code, out, _ = cli("rm", baseline.run_id[:8], "--db", db)
    assert code == 0 and "removed 1 run" in out
    assert cli("show", baseline.run_id[:8], "--db", db)[0] == 2
    code, out, _ = cli("gc", "--older-than", "1d", "--db", db)
    assert code == 0 and "removed 0 runs" in out
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE runs SET started_unix = started_unix - 100 * 86400 WHERE name = 'eval'"
        )
    code, out, _ = cli("gc", "--older-than", "90d", "--dry-run", "--db", db)
    assert "would remove 1 run" in out
    code, out, _ = cli("gc", "--older-than", "90d", "--db", db)
    assert "removed 1 run" in out
    assert [r["name"] for r in json.loads(cli("runs", "--json", "--db", db)[1])] == ["tuned"]


def test_rm_refuses_a_run_that_is_still_running(cli, db):
    run = jouleflow.track("live", db=db, powercap_root="/nonexistent", gpus=False).start()
    deadline = time.monotonic() + 30
    while run.store_path is None and time.monotonic() < deadline:  # saved from another thread
        time.sleep(0.01)
    try:
        code, _, err = cli("rm", run.run_id[:10], "--db", db)
        assert code == 2 and "still running" in err
        assert cli("rm", "--force", run.run_id[:10], "--db", db)[0] == 0
    finally:
        run.stop()
    with RunStore.open(db) as store:  # the stopped run did not come back
        assert run.run_id not in {r.id for r in store.runs()}


def test_an_empty_or_missing_store(cli, tmp_path):
    missing = str(tmp_path / "none.db")
    code, out, _ = cli("runs", "--db", missing)
    assert code == 0 and "no runs yet" in out
    assert json.loads(cli("runs", "--json", "--db", missing)[1]) == []
    code, _, err = cli("show", "last", "--db", missing)
    assert code == 2 and "no run store at" in err
    assert not (tmp_path / "none.db").exists()  # reading never creates a store


@pytest.mark.parametrize("command", [("runs",), ("show", "last"), ("export", "last")])
def test_a_foreign_file_exits_2_naming_it_and_is_left_untouched(tmp_path, command):
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "jouleflow", *command, "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert str(path) in done.stderr and "not a jouleflow run store" in done.stderr
    assert path.read_bytes() == before
