"""Many processes writing runs into one store at once: no lost rows, never "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from jouleflow.store import RunStore

PROCESSES = 8
RUNS_EACH = 4
SAMPLES_EACH = 120

WRITER = textwrap.dedent("""
    import dataclasses, sys, time, uuid
    import jouleflow
    from jouleflow.store import Recorder
    from jouleflow.records import ComponentEnergy, ComponentKind, Method, RunResult

    db, worker, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    runs, samples = int(sys.argv[4]), int(sys.argv[5])
    while time.time() < start_at:  # everyone starts together, the store not yet created
        time.sleep(0.001)

    def result(run_id, seconds, status="running", exit_code=None):
        component = ComponentEnergy("a", ComponentKind.CPU_PACKAGE, 10.0 * seconds,
                                    Method.COUNTER, "powercap", 0.0, "CPU")
        return RunResult(run_id, f"w{worker}", None, "2024-05-01T00:00:00+00:00",
                         (0, int(seconds * 1e9)), exit_code, status, (component,), (), {},
                         (), (), {}, 0.1, 0, {"worker": str(worker)})

    for n in range(runs):
        run_id = uuid.uuid4().hex
        progress = [result(run_id, 0.0)]
        recorder = Recorder.open(db, flush_interval_s=0.005)  # flushing all the time
        recorder.begin(lambda: progress[-1])
        for i in range(1, samples + 1):
            recorder.add_sample(i * 10_000_000, (float(i),))
            if i % 10 == 0:
                progress.append(result(run_id, i / 100))
                time.sleep(0.001)
        assert recorder.finish(result(run_id, (samples + 1) / 100, "completed", 0)) is None
    # and one real measured run through track(), estimates only
    with jouleflow.track(f"track{worker}", db=db, powercap_root="/nonexistent", gpus=False):
        time.sleep(0.05)
""")


def test_parallel_writers_lose_no_rows_and_are_never_locked_out(tmp_path):
    db = tmp_path / "shared" / "runs.db"
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(db),
                str(w),
                str(start_at),
                str(RUNS_EACH),
                str(SAMPLES_EACH),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs):
        assert "locked" not in stderr.lower()
        assert proc.returncode == 0, stderr
    with RunStore.open(db) as store:
        runs = store.runs()
        assert len(runs) == PROCESSES * (RUNS_EACH + 1)
        assert {r.status for r in runs} == {"completed"}
        for worker in range(PROCESSES):
            mine = [r for r in runs if r.tags.get("worker") == str(worker)]
            assert len(mine) == RUNS_EACH
            for run in mine:
                _, samples = store.samples(run)
                # the first (zero) sample, every sample, the final one
                assert len(samples) == SAMPLES_EACH + 2
                assert samples[-1] == ((SAMPLES_EACH + 1) * 10_000_000, (run.total_j * 1e6,))
                assert run.total_j == (SAMPLES_EACH + 1) / 100 * 10.0
        assert sorted(r.name for r in runs if r.name.startswith("track")) == [
            f"track{w}" for w in range(PROCESSES)
        ]


FORKING = textwrap.dedent("""
    import multiprocessing, sys, time
    import jouleflow

    db = sys.argv[1]

    def worker(n):
        with jouleflow.track(f"worker{n}", db=db, powercap_root="/nonexistent", gpus=False):
            time.sleep(0.05)
        return n

    if __name__ == "__main__":
        with jouleflow.track("parent", db=db, powercap_root="/nonexistent", gpus=False):
            with multiprocessing.get_context("fork").Pool(4) as pool:
                assert sorted(pool.map(worker, range(8))) == list(range(8))
""")


def test_forked_workers_save_their_own_runs_beside_the_parents(tmp_path):
    db = tmp_path / "runs.db"
    done = subprocess.run(
        [sys.executable, "-c", FORKING, str(db)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "locked" not in done.stderr.lower()
    with RunStore.open(db) as store:
        runs = store.runs()
    assert sorted(r.name for r in runs) == ["parent"] + [f"worker{n}" for n in range(8)]
    assert {r.status for r in runs} == {"completed"}
