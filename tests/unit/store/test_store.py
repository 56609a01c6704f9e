"""Saving, finding and removing runs through the store's API."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time

import pytest

from jouleflow.records import LayerBreakdown, LayerEnergy
from jouleflow.store import UnknownRunError
from jouleflow.store.codec import pack_cum, result_from_document, unpack_cum

from .conftest import make_result


def test_a_result_document_reads_back_as_the_same_result():
    result = make_result(tags={"a": "b"})
    assert result_from_document(result.to_dict()) == result
    layers = LayerBreakdown((LayerEnergy("fc1", "Linear", 3, 0.5, 0.25, 12.0, 1e9, 4e6),), 1.0, "t")
    counted = dataclasses.replace(result, layers=layers, counts={"samples": 64})
    assert result_from_document(json.loads(json.dumps(counted.to_dict()))) == counted
    assert result_from_document(result.to_dict(), status="incomplete").status == "incomplete"
    assert unpack_cum(pack_cum((1.5, 2.0, 1e15))) == (1.5, 2.0, 1e15)


def test_saved_results_read_back_exactly(store, save):
    saved = save(name="first", tags={"model": "resnet"})
    run = store.resolve(saved.run_id)
    assert (run.name, run.status, run.exit_code) == ("first", "completed", 0)
    assert run.tags == {"model": "resnet"}
    assert run.total_j == pytest.approx(saved.total_j)
    assert run.duration_s == pytest.approx(saved.duration_s)
    assert store.result(run) == saved
    domains, samples = store.samples(run)
    assert domains == tuple(c.id for c in saved.components)
    assert samples[0] == (saved.window_ns[0], (0.0,) * 5)
    assert samples[-1][0] == saved.window_ns[1]
    assert samples[-1][1][0] == pytest.approx(saved.components[0].energy_j * 1e6)


def test_a_run_is_found_by_id_prefix_dashed_uuid_or_last(store, save):
    a = save(run_id="abc" + "0" * 29)
    b = save(run_id="abd" + "1" * 29)
    assert store.resolve(a.run_id).id == a.run_id
    assert store.resolve("ABC0").id == a.run_id  # case does not matter
    assert store.resolve("abd11111-1111-1111-1111-111111111111").id == b.run_id
    assert store.resolve("last").id == b.run_id
    with pytest.raises(UnknownRunError, match="ambiguous") as caught:
        store.resolve("ab")
    assert "abc0000000" in str(caught.value) and "abd1111111" in str(caught.value)
    with pytest.raises(UnknownRunError, match="no run 'ffff'"):
        store.resolve("ffff")
    with pytest.raises(UnknownRunError, match="an id, a unique id prefix, or 'last'"):
        store.resolve("not-hex!")


def test_last_in_an_empty_store_is_a_clear_error(store):
    with pytest.raises(UnknownRunError, match="no runs yet"):
        store.resolve("last")


def test_runs_filter_by_name_status_tags_and_time(store, save):
    save(name="train-small", tags={"model": "resnet", "lr": "0.1"})
    save(name="train-large", status="failed", exit_code=2, tags={"model": "vit"})
    save(name="eval", status="interrupted", exit_code=130)
    names = lambda runs: [r.name for r in runs]  # noqa: E731
    assert names(store.runs()) == ["eval", "train-large", "train-small"]
    assert names(store.runs(name="TRAIN")) == ["train-large", "train-small"]
    assert names(store.runs(name="train-s*")) == ["train-small"]
    assert names(store.runs(status="failed")) == ["train-large"]
    assert names(store.runs(status="interrupted")) == ["eval"]
    assert names(store.runs(tags={"model": None})) == ["train-large", "train-small"]
    assert names(store.runs(tags={"model": "resnet", "lr": "0.1"})) == ["train-small"]
    assert names(store.runs(tags={"model": "resnet", "lr": "0.2"})) == []
    assert names(store.runs(limit=2)) == ["eval", "train-large"]
    assert names(store.runs(since_unix=time.time() + 60)) == []
    assert len(store.runs(before_unix=time.time() + 60)) == 3
    assert store.runs(before_unix=time.time() - 60) == []


def test_a_running_run_of_a_dead_process_is_incomplete(store):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = make_result()
    for pid, started, expect in (
        (int(dead.stdout), None, "incomplete"),  # that process has exited
        (None, None, "running"),  # this one is alive
        (None, 12.0, "incomplete"),  # alive, but another process: the pid was reused
    ):
        key = store.create_run(
            run_id=result.run_id[:-4] + f"{len(store.runs()):04x}",
            name="live",
            command=None,
            started_at=result.started_at,
            start_ns=0,
            domains=["a"],
            tags={},
            document=json.dumps(result.to_dict()),
            pid=pid,
            process_started_unix=started,
        )
        assert key > 0
        assert store.runs()[0].status == expect
    assert len(store.runs(status="incomplete")) == 2
    assert len(store.runs(status="running")) == 1
    incomplete = store.runs(status="incomplete")[0]
    assert store.result(incomplete).status == "incomplete"


def test_delete_removes_runs_with_their_samples_and_tags(store, save):
    keep = save(tags={"k": "v"})
    gone = save(tags={"k": "v"})
    assert store.delete([store.resolve(gone.run_id)]) == 1
    assert [r.id for r in store.runs()] == [keep.run_id]
    assert store.sample_count() == 2
    count = store._read(lambda c: c.execute("SELECT count(*) FROM tags").fetchone()[0])
    assert count == 1
    with pytest.raises(UnknownRunError):
        store.resolve(gone.run_id)


def test_a_store_cannot_be_used_across_fork(db_path):
    script = textwrap.dedent(f"""
        import os
        from jouleflow.store import RunStore
        store = RunStore.open({str(db_path)!r})
        pid = os.fork()
        if pid == 0:
            try:
                store.runs()
            except Exception as err:
                os._exit(0 if "after fork" in str(err) else 1)
            os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert store.runs() == []
        store.close()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
