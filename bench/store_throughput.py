"""How fast the run store takes samples, and how big a month-long run gets.

Throughput: samples go through the recorder's real path (``Recorder.add_sample``: the downsampling
policy, packing into float64 blobs, buffering) and are flushed every 10,000 samples into a run
store on disk (WAL, ``synchronous = NORMAL``): one short ``BEGIN IMMEDIATE`` transaction each, as
the background flusher does every 2 s. Samples are 1 ms apart (a fast sampler) so that the default
policy keeps every one of them. Five domains, as on a one-socket machine (package, core, DRAM,
disk and network estimates). Target: 100,000 samples/s or more, i.e. at most 10 µs a sample.
Baseline, in the same process: the same rows, pre-packed, ``executemany``'d in the same batches
into a bare table of the same shape with the same settings: what SQLite itself costs.

Size: a 30-day run sampled every 0.1 s (the default interval), 25.9 million samples, fed through
the same recorder with the default downsampling policy (every sample for the first hour, one a
second until a day, one a minute after). Its flushes are one per simulated minute instead of one
per 2 s, which changes how often the run's row is rewritten, not what is kept. The figure is the
database file's size once closed (WAL checkpointed). Baseline: the same run with every sample
kept, extrapolated from the bytes per sample of the first hour (writing 25.9 million rows would
take minutes and 1.6 GB to say the same thing).

    .venv/bin/python bench/store_throughput.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from _common import Figure, finish, fmt, median, parse_args

from jouleflow.records import ComponentEnergy, ComponentKind, Method, RunResult
from jouleflow.store import DEFAULT_DOWNSAMPLING, Downsampling, Recorder, RunStore
from jouleflow.store.codec import pack_cum

TARGET_US_PER_SAMPLE = 10.0  # = 100,000 samples/s
SAMPLES = {"quick": 200_000, "default": 500_000, "long": 2_000_000}
REPEATS = {"quick": 3, "default": 5, "long": 5}
BATCH = 10_000
DOMAINS = (
    ("rapl:package-0", ComponentKind.CPU_PACKAGE, True),
    ("rapl:package-0:core", ComponentKind.CPU_CORE, False),
    ("rapl:package-0:dram", ComponentKind.DRAM, True),
    ("estimate:disk", ComponentKind.DISK_ESTIMATE, True),
    ("estimate:network", ComponentKind.NETWORK_ESTIMATE, True),
)
WATTS = (40.0, 25.0, 6.0, 0.5, 0.2)
S_NS = 1_000_000_000
DAY_S = 86_400


def result(seconds: float, status: str = "running") -> RunResult:
    components = tuple(
        ComponentEnergy(cid, kind, w * seconds, Method.COUNTER, "powercap", 0.0, cid, in_total)
        for (cid, kind, in_total), w in zip(DOMAINS, WATTS)
    )
    return RunResult(
        run_id=uuid.uuid4().hex,
        name="bench",
        command=("python", "train.py"),
        started_at="2024-05-01T00:00:00.000+00:00",
        window_ns=(0, int(seconds * S_NS)),
        exit_code=0 if status != "running" else None,
        status=status,
        components=components,
        phases=(),
        unattributed_j={c.id: c.energy_j for c in components},
        sensors=(),
        warnings=(),
        host={"hostname": "bench"},
        sample_interval_s=0.1,
        samples=0,
    )


def recorder_throughput(folder: Path, n: int) -> float:
    """Seconds to record and flush ``n`` samples through a Recorder."""
    running = result(n / 1000)
    recorder = Recorder(RunStore.open(folder / f"recorder-{uuid.uuid4().hex}.db"))
    recorder.begin(lambda: running, flush_thread=False)
    cum = [0.0] * len(DOMAINS)
    begin = time.perf_counter()
    for i in range(1, n + 1):
        cum[0] += 40_000.0
        recorder.add_sample(i * 1_000_000, tuple(cum))
        if i % BATCH == 0:
            recorder.flush(running)
    recorder.flush(running)
    elapsed = time.perf_counter() - begin
    recorder.finish(dataclasses.replace(running, status="completed", exit_code=0))
    with RunStore.open(recorder.store.path) as store:
        assert store.sample_count() == n + 1, store.sample_count()  # + the zero sample
    return elapsed


def sqlite_baseline(folder: Path, n: int) -> float:
    """Seconds for SQLite alone to take the same rows in the same batches."""
    conn = sqlite3.connect(folder / f"baseline-{uuid.uuid4().hex}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE samples (run INTEGER NOT NULL, t_ns INTEGER NOT NULL, cum_uj BLOB NOT NULL,"
        " PRIMARY KEY (run, t_ns)) WITHOUT ROWID"
    )
    rows = [(1, i * 1_000_000, pack_cum((40_000.0 * i, 0.0, 0.0, 0.0, 0.0))) for i in range(n)]
    begin = time.perf_counter()
    for start in range(0, n, BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows[start : start + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - begin
    conn.close()
    return elapsed


def month_run(folder: Path, days: int, policy: Downsampling) -> tuple[int, int, float]:
    """(database bytes, samples kept, seconds taken) for a ``days``-long run at 0.1 s."""
    path = folder / f"month-{uuid.uuid4().hex}.db"
    seconds = days * DAY_S
    running = result(seconds)
    recorder = Recorder(RunStore.open(path), downsampling=policy)
    recorder.begin(lambda: running, flush_thread=False)
    cum = [0.0] * len(DOMAINS)
    step_uj = [w * 0.1 * 1e6 for w in WATTS]
    begin = time.perf_counter()
    per_minute = 600
    total = seconds * 10
    add = recorder.add_sample
    for i in range(1, total + 1):
        for d in range(len(cum)):
            cum[d] += step_uj[d]
        add(i * 100_000_000, tuple(cum))
        if i % per_minute == 0:
            recorder.flush(running)
    recorder.finish(dataclasses.replace(result(seconds, "completed")))
    elapsed = time.perf_counter() - begin
    with RunStore.open(path) as store:
        kept = store.sample_count()
    return path.stat().st_size, kept, elapsed


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = SAMPLES[args.mode]
    with tempfile.TemporaryDirectory(prefix="jouleflow-store-bench-") as scratch:
        folder = Path(scratch)
        ours, theirs = [], []
        for _ in range(REPEATS[args.mode]):
            theirs.append(sqlite_baseline(folder, n))
            ours.append(recorder_throughput(folder, n))
        us_per_sample = median(ours) / n * 1e6
        base_us = median(theirs) / n * 1e6
        rate = n / median(ours)
        throughput = Figure(
            key="store.sample_write",
            title="run store: time to record one sample",
            unit="µs",
            value=us_per_sample,
            baseline=base_us,
            baseline_label="the same rows executemany'd into a bare SQLite table, same batches",
            ratio=us_per_sample / base_us,
            target=TARGET_US_PER_SAMPLE,
            group="store",
            details=[
                f"{rate:,.0f} samples/s through Recorder.add_sample + flush"
                f" (target ≥ {1e6 / TARGET_US_PER_SAMPLE:,.0f}/s: {rate / 1e5:.1f}× the target);"
                f" SQLite alone: {n / median(theirs):,.0f}/s",
                f"{n:,} samples of {len(DOMAINS)} domains, flushed every {BATCH:,};"
                f" median of {REPEATS[args.mode]} runs",
            ],
        )
        # The full month at default settings, and every sample of the first hour kept, to see
        # what a sample costs on disk without the policy.
        size_b, kept, took_s = month_run(folder, 30, DEFAULT_DOWNSAMPLING)
        hour_b, hour_kept, _ = month_run_hour(folder)
        per_sample_b = hour_b / hour_kept
        undownsampled_b = per_sample_b * 30 * DAY_S * 10
        size = Figure(
            key="store.size.30d",
            title="run store: size of a 30-day run at default settings",
            unit="MB",
            value=size_b / 1e6,
            baseline=undownsampled_b / 1e6,
            baseline_label="every sample kept (bytes per sample of a stored hour × 25.9 M)",
            ratio=size_b / undownsampled_b,
            target=None,
            group="store",
            details=[
                f"{kept:,} samples kept of {30 * DAY_S * 10:,} taken (0.1 s, {len(DOMAINS)}"
                f" domains), policy {DEFAULT_DOWNSAMPLING.tiers}; file {fmt(size_b / 1e6, 'MB')}",
                f"a stored sample costs {per_sample_b:.0f} bytes; simulated in {took_s:.0f} s",
            ],
        )
    finish([throughput, size], args)


def month_run_hour(folder: Path) -> tuple[int, int, float]:
    """One hour, every sample kept: the bytes a stored sample costs."""
    path = folder / "hour.db"
    keep_all = Downsampling(((math.inf, 0.0),))
    running = result(3600.0)
    recorder = Recorder(RunStore.open(path), downsampling=keep_all)
    recorder.begin(lambda: running, flush_thread=False)
    cum = [0.0] * len(DOMAINS)
    for i in range(1, 36_001):
        cum[0] += 4e6
        recorder.add_sample(i * 100_000_000, tuple(cum))
        if i % 600 == 0:
            recorder.flush(running)
    recorder.finish(dataclasses.replace(running, status="completed", exit_code=0))
    with RunStore.open(path) as store:
        kept = store.sample_count()
    return path.stat().st_size, kept, 0.0


if __name__ == "__main__":
    main()
