"""The recorder: downsampling as samples arrive, background flushes, the final write."""

from __future__ import annotations

import dataclasses
import time

import pytest

from jouleflow.store import DEFAULT_DOWNSAMPLING, Downsampling, Recorder, RunStore

from .conftest import T0_NS, make_result

S = 1_000_000_000


def test_the_default_policy_keeps_every_sample_for_an_hour_then_thins():
    policy = DEFAULT_DOWNSAMPLING
    assert policy.spacing_ns(0) == 0
    assert policy.spacing_ns(3599 * S) == 0
    assert policy.spacing_ns(3600 * S) == 1 * S
    assert policy.spacing_ns(86_399 * S) == 1 * S
    assert policy.spacing_ns(86_400 * S) == 60 * S
    assert policy.spacing_ns(40 * 86_400 * S) == 60 * S
    assert Downsampling(((10.0, 0.5),)).spacing_ns(100 * S) == S // 2  # past the last tier
    assert policy.tier_end_ns(5 * S) == 3600 * S
    assert policy.tier_end_ns(4000 * S) == 86_400 * S
    assert policy.tier_end_ns(90_000 * S) > 10**18  # the last tier never ends


def test_samples_are_thinned_as_they_arrive_and_nothing_is_lost_at_the_end(db_path):
    result = make_result(seconds=7200.0)
    running = dataclasses.replace(result, status="running", exit_code=None)
    recorder = Recorder(RunStore.open(db_path))
    recorder.begin(lambda: running, flush_thread=False)
    for i in range(1, 72_000):  # two hours at 0.1 s
        recorder.add_sample(T0_NS + i * S // 10, (float(i),) * 5)
    recorder.flush()
    assert recorder.finish(result) is None
    with RunStore.open(db_path) as store:
        run = store.resolve("last")
        _, samples = store.samples(run)
        assert run.status == "completed" and store.result(run) == result
    times = [t for t, _ in samples]
    first_hour = [t for t in times if t - T0_NS < 3600 * S]
    assert len(first_hour) == 36_000  # every sample
    assert 3_599 <= len(times) - len(first_hour) - 1 <= 3_601  # one a second, plus the end
    assert times[-1] == result.window_ns[1]  # the final totals are always kept
    assert samples[-1][1][0] == pytest.approx(result.components[0].energy_j * 1e6)


def test_the_background_thread_flushes_running_totals(db_path):
    progress = [make_result(seconds=1.0, status="running", exit_code=None)]
    recorder = Recorder(RunStore.open(db_path), flush_interval_s=0.02)
    recorder.begin(lambda: progress[-1])
    with RunStore.open(db_path) as store:
        assert store.resolve("last").status == "running"
        progress.append(
            make_result(seconds=2.0, status="running", exit_code=None, run_id=progress[0].run_id)
        )
        deadline = time.monotonic() + 5
        while store.resolve("last").total_j < progress[-1].total_j * 0.99:
            assert time.monotonic() < deadline, "no flush within 5 s"
            time.sleep(0.01)
        assert store.resolve("last").status == "running"
        final = make_result(seconds=3.0, status="failed", exit_code=7, run_id=progress[0].run_id)
        assert recorder.finish(final) is None
        run = store.resolve("last")
        assert (run.status, run.exit_code) == ("failed", 7)
        assert run.total_j == pytest.approx(final.total_j)
    assert recorder.finish(final) is None  # once only


def test_a_run_removed_while_recording_is_not_brought_back(db_path):
    running = make_result(status="running", exit_code=None)
    recorder = Recorder(RunStore.open(db_path), flush_interval_s=0.02)
    recorder.begin(lambda: running)
    with RunStore.open(db_path) as store:
        store.delete(store.runs())
        time.sleep(0.1)
        recorder.finish(make_result(run_id=running.run_id))
        assert store.runs() == [] and store.sample_count() == 0
