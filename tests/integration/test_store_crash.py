"""Nothing lost on a crash: SIGKILL a measuring process, then read its run back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import jouleflow
from jouleflow.store import RunStore
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket

JOULEFLOW = [sys.executable, "-m", "jouleflow"]
PACKAGE_W = 30.0


@pytest.fixture
def rapl(tmp_path):
    tree = single_socket(tmp_path / "sys")
    traces = {z.link: ConstantPower(w) for z, w in zip(tree.zones, (PACKAGE_W, 20.0, 5.0))}
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        yield {**os.environ, "JOULEFLOW_POWERCAP_ROOT": str(tree.root)}, tree.root


def jf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOULEFLOW, *args], capture_output=True, text=True, timeout=60, env=env)


def wait_for_flush(db: Path, min_total_j: float, timeout_s: float = 15.0) -> None:
    """Until the store holds a flush of the running run with at least ``min_total_j``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists():
            with RunStore.open(db) as store:
                runs = store.runs()
                if runs and runs[0].status == "running" and runs[0].total_j >= min_total_j:
                    return
        time.sleep(0.1)
    raise AssertionError(f"no flush with {min_total_j} J within {timeout_s} s")


def read_back(db: Path) -> dict:
    shown = jf("show", "last", "--json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_sigkill_of_jouleflow_run_leaves_an_incomplete_run_with_the_flushed_energy(rapl, tmp_path):
    env, _ = rapl
    db = tmp_path / "runs.db"
    child = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)"
    proc = subprocess.Popen(
        [
            *JOULEFLOW,
            "run",
            "--no-gpu",
            "--interval",
            "0.1",
            "--db",
            str(db),
            "--tag",
            "job=crash",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    child_pid = int(proc.stdout.readline())
    try:
        wait_for_flush(db, min_total_j=PACKAGE_W * 1.0)
        proc.kill()  # SIGKILL: no handler, no finally, no atexit
        proc.wait(timeout=10)
    finally:
        os.kill(child_pid, signal.SIGKILL)  # the orphaned command, which holds our pipes
        proc.kill()
        proc.communicate(timeout=10)
    document = read_back(db)
    assert document["status"] == "incomplete" and document["exit_code"] is None
    assert document["tags"] == {"job": "crash"}
    assert document["command"][-2:] == ["-c", child]
    package = next(c for c in document["components"] if c["id"] == "rapl:package-0")
    assert document["duration_s"] >= 1.0
    # energy up to the last flush, consistent with the window it covers
    assert package["energy_j"] == pytest.approx(PACKAGE_W * document["duration_s"], rel=0.05)
    listed = json.loads(jf("runs", "--status", "incomplete", "--json", "--db", str(db)).stdout)
    assert [r["run_id"] for r in listed] == [document["run_id"]]
    with RunStore.open(db) as store:
        _, samples = store.samples(store.resolve("last"))
    assert len(samples) >= 5  # the samples flushed before the kill are there too


def test_sigkill_of_a_tracked_python_process_keeps_phases_and_tags(rapl, tmp_path):
    _, powercap_root = rapl
    db = tmp_path / "runs.db"
    script = textwrap.dedent(f"""
        import time, jouleflow
        with jouleflow.track("finetune", db={str(db)!r}, tags={{"lr": "0.1"}},
                             powercap_root={str(powercap_root)!r}, gpus=False) as run:
            with run.phase("warmup"):
                time.sleep(0.3)
            with run.phase("train"):
                print("ready", flush=True)
                time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    wait_for_flush(db, min_total_j=PACKAGE_W * 0.8)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    document = read_back(db)
    assert document["status"] == "incomplete" and document["name"] == "finetune"
    assert document["tags"] == {"lr": "0.1"}
    phases = {p["name"]: p for p in document["phases"]}
    assert phases["warmup"]["count"] == 1 and phases["warmup"]["truncated"] == 0
    assert phases["train"]["truncated"] == 1  # open when the process died
    assert phases["warmup"]["energy_j"] == pytest.approx(0.3 * (PACKAGE_W + 5.0), rel=0.2)
    parts = sum(p["self_energy_j"] for p in document["phases"])
    assert parts + document["unattributed_j"]["total"] == pytest.approx(document["total_j"])


def test_a_command_killed_by_sigkill_is_failed_with_its_exit_code(rapl, tmp_path):
    env, _ = rapl
    db = tmp_path / "runs.db"
    done = jf(
        "run",
        "--no-gpu",
        "--db",
        str(db),
        "--",
        sys.executable,
        "-c",
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        env=env,
    )
    assert done.returncode == 137
    document = read_back(db)
    assert (document["status"], document["exit_code"]) == ("failed", 137)


def test_runs_are_saved_by_default_and_no_store_saves_nothing(rapl, run_store):
    env, _ = rapl
    saved = jf("run", "--no-gpu", "--", sys.executable, "-c", "pass", env=env)
    assert saved.returncode == 0, saved.stderr
    assert f"in {run_store}" in saved.stderr and "saved as run" in saved.stderr
    skipped = jf("run", "--no-gpu", "--no-store", "--", sys.executable, "-c", "pass", env=env)
    assert skipped.returncode == 0 and "saved as" not in skipped.stderr
    with RunStore.open(run_store) as store:
        assert [r.status for r in store.runs()] == ["completed"]


def test_run_refuses_a_corrupt_store_untouched_before_running_the_command(tmp_path):
    db = tmp_path / "runs.db"
    db.write_bytes(b"\x00garbage" * 1000)
    before = db.read_bytes()
    marker = tmp_path / "ran"
    done = jf(
        "run",
        "--no-gpu",
        "--db",
        str(db),
        "--",
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'w')",
    )
    assert done.returncode == 2
    assert str(db) in done.stderr and "not a jouleflow run store" in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists() and db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db"]


def test_a_track_inside_jouleflow_run_is_saved_once_with_the_commands_run(rapl, run_store):
    env, powercap_root = rapl
    inner = (
        "import time, jouleflow\n"
        f"with jouleflow.track('inner', powercap_root={str(powercap_root)!r}, gpus=False) as r:\n"
        "    with r.phase('work'):\n"
        "        time.sleep(0.1)\n"
    )
    done = jf("run", "--no-gpu", "--", sys.executable, "-c", inner, env=env)
    assert done.returncode == 0, done.stderr
    with RunStore.open(run_store) as store:
        runs = store.runs()
        assert [r.name for r in runs] == [Path(sys.executable).name]
        assert "work" in {p.name for p in store.result(runs[0]).phases}


def test_a_partial_result_is_what_a_crash_would_leave_and_changes_nothing(rapl):
    _, powercap_root = rapl
    run = jouleflow.track(db=False, powercap_root=str(powercap_root), gpus=False).start()
    with run.phase("outer"):
        with run.phase("inner"):
            time.sleep(0.05)
        partial = run.partial_result()
        assert partial.status == "running" and partial.exit_code is None
        assert partial.phase("outer").truncated == 1 and partial.phase("inner").truncated == 0
        for c in partial.components:
            parts = sum(p.self_energy_j[c.id] for p in partial.phases)
            assert parts + partial.unattributed_j[c.id] == pytest.approx(c.energy_j)
        time.sleep(0.05)
    run.stop()
    final = run.result
    assert final.phase("outer").count == 1 and final.phase("outer").truncated == 0
    assert final.total_j > partial.total_j > 0
