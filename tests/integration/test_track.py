"""`jouleflow.track()` end to end on a simulated powercap tree with known power."""

import os
import time

import pytest

import jouleflow
from jouleflow.records import ComponentKind, Method
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket, two_socket_with_dram

PACKAGE_W, DRAM_W, CORE_W = 40.0, 6.0, 25.0


@pytest.fixture
def simulated_socket(tmp_path):
    tree = single_socket(tmp_path)
    traces = {
        "intel-rapl:0": ConstantPower(PACKAGE_W),
        "intel-rapl:0:0": ConstantPower(CORE_W),
        "intel-rapl:0:1": ConstantPower(DRAM_W),
    }
    with PowercapSimulator(tree, traces, process=True) as sim:
        time.sleep(0.1)
        yield tree, sim


def test_block_energy_per_component_matches_the_truth(simulated_socket):
    tree, sim = simulated_socket
    with jouleflow.track("block", powercap_root=str(tree.root), gpus=False) as run:
        time.sleep(0.5)
    result = run.result
    start, end = result.window_ns
    package = result.component("rapl:package-0")
    assert package.method is Method.COUNTER and package.measured
    assert package.energy_j == pytest.approx(sim.energy_j("intel-rapl:0", start, end), abs=0.2)
    assert result.component("rapl:package-0:dram").energy_j == pytest.approx(
        sim.energy_j("intel-rapl:0:1", start, end), abs=0.05
    )
    core = result.component("rapl:package-0:core")
    assert not core.in_total and core.parent == "rapl:package-0"
    # CPU and DRAM are measured, so neither is estimated; disk/network are, and say so
    kinds = {c.kind for c in result.components}
    assert ComponentKind.CPU_ESTIMATE not in kinds and ComponentKind.MEMORY_ESTIMATE not in kinds
    assert all(not c.measured for c in result.components if c.id.startswith("estimate:"))
    assert result.measured_j == pytest.approx(
        package.energy_j + result.component("rapl:package-0:dram").energy_j
    )
    assert result.samples >= 2 and result.sample_interval_s == 1.0  # counters only: 1 s


def test_phases_plus_unattributed_equal_the_total_per_component(simulated_socket):
    tree, _ = simulated_socket
    run = jouleflow.track(powercap_root=str(tree.root), gpus=False).start()
    for _ in range(5):
        with run.phase("forward"):
            time.sleep(0.01)
            with run.phase("inner"):
                time.sleep(0.005)
        with run.phase("backward"):
            time.sleep(0.02)
    result = run.stop()
    for component in result.components:
        parts = sum(p.self_energy_j[component.id] for p in result.phases)
        assert parts + result.unattributed_j[component.id] == pytest.approx(
            component.energy_j, rel=1e-9, abs=1e-9
        )
    forward = result.phase("forward")
    assert forward.count == 5 and len(forward.windows_ns) == 5
    document = result.to_dict()
    first = next(p for p in document["phases"] if p["name"] == "forward")
    # its own wall-clock label, from its window (it may share the run's millisecond)
    assert first["started_at"] == result.wall_clock(forward.windows_ns[0][0])
    assert first["started_at"] >= document["started_at"]
    # at constant power, a phase's package energy is its duration × power (counter at edges)
    assert forward.energy_j["rapl:package-0"] == pytest.approx(
        forward.duration_s * PACKAGE_W, abs=5 * 2 * PACKAGE_W * 0.002
    )


def test_start_stop_and_decorator_forms(simulated_socket):
    tree, _ = simulated_socket
    config = jouleflow.MeterConfig(powercap_root=str(tree.root), gpus=False)

    @jouleflow.track("decorated", config=config)
    def work():
        time.sleep(0.05)
        return 42

    assert work() == 42
    assert work.jouleflow_run.result.total_j > 0
    assert work.jouleflow_run.result.name == "decorated"
    run = jouleflow.Run(config=config)
    run.start()
    with pytest.raises(jouleflow.RunStateError):
        _ = run.result
    run.stop()
    with pytest.raises(jouleflow.RunStateError):
        run.start()


def test_two_sockets_add_up(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    traces = {z.link: ConstantPower(10.0 * (i + 1)) for i, z in enumerate(tree.zones)}
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        with jouleflow.track(powercap_root=str(tree.root), gpus=False) as run:
            time.sleep(0.3)
    result = run.result
    in_total = {c.id for c in result.components if c.in_total and c.measured}
    assert in_total == {
        "rapl:package-0",
        "rapl:package-0:dram",
        "rapl:package-1",
        "rapl:package-1:dram",
    }
    # sockets' powers: package-0 10 W, dram 20 W, package-1 40 W, dram 50 W = 120 W
    assert result.measured_j / result.duration_s == pytest.approx(120.0, rel=0.02)


def test_without_any_sensor_everything_is_an_estimate_and_says_so(tmp_path):
    with jouleflow.track(powercap_root=str(tmp_path / "none"), gpus=False) as run:
        sum(i * i for i in range(200_000))
    result = run.result
    assert result.measured_j == 0
    cpu = result.component("estimate:cpu")
    assert cpu.method is Method.ESTIMATE and cpu.energy_j > 0 and cpu.uncertainty_j > 0
    assert cpu.model  # names the model it used
    assert any("estimate" in w for w in result.warnings)
    document = result.to_dict()
    assert document["measured_j"] == 0 and document["estimated_j"] == pytest.approx(
        document["total_j"]
    )
    reasons = {s["sensor"]: s["reason"] for s in document["sensors"]}
    assert "no powercap tree" in reasons["powercap"]


def test_phase_outside_a_run_is_a_clear_error():
    run = jouleflow.track()
    phase = run.phase("x")
    with pytest.raises(jouleflow.RunStateError, match="outside a running measurement"):
        phase.__enter__()


def assert_edges_accounted_exactly(result, sim):
    """Phases plus unattributed = the package's total = the truth; nothing negative."""
    package = "rapl:package-0"
    parts = sum(p.self_energy_j[package] for p in result.phases)
    assert parts + result.unattributed_j[package] == pytest.approx(
        result.component(package).energy_j, rel=1e-12
    )
    start, end = result.window_ns
    assert result.component(package).energy_j == pytest.approx(
        sim.energy_j("intel-rapl:0", start, end), abs=0.2
    )
    assert all(v >= 0 for p in result.phases for v in p.self_energy_j.values())
    assert result.samples > 10


def test_many_switches_across_samples_are_accounted_in_time_order(simulated_socket):
    """Edges are read at once and accounted in batches; samples in between must not reorder them."""
    tree, sim = simulated_socket
    run = jouleflow.track(powercap_root=str(tree.root), gpus=False, interval_s=0.002).start()
    current = None
    for k in range(3000):  # dozens of settle batches, interleaved with ~hundreds of samples
        current = run.switch(current, "a" if k % 2 else "b")
        if k % 500 == 0:
            time.sleep(0.003)
    assert current is not None
    current.close()
    # a closed occurrence knows its energy before the run stops (its edges settle on demand)
    assert current.closed and current.energy_j >= 0
    result = run.stop()
    assert result.phase("a").count + result.phase("b").count == 3000
    assert_edges_accounted_exactly(result, sim)


def test_marked_edges_are_read_raw_and_accounted_exactly_across_samples(simulated_socket):
    """``run.marker()``: the edge reads the counters' text only; the sampler decodes it."""
    tree, sim = simulated_socket
    run = jouleflow.track(powercap_root=str(tree.root), gpus=False, interval_s=0.002).start()
    mark, stream = run.marker(), run.stream()
    assert mark != run.mark  # the split read: one sensor serves every edge here
    for k in range(3000):  # dozens of settle batches, interleaved with ~hundreds of samples
        mark(stream, ("a", "b", "c")[k % 3])
        if k % 250 == 0:  # 60 ms of sleeps: samples in between even when the CPUs are busy
            time.sleep(0.005)
    assert stream.current == "c"
    mark(stream, None)
    result = run.stop()
    mark(stream, None)  # closing after the run: nothing to do
    with pytest.raises(jouleflow.RunStateError, match="outside a running measurement"):
        mark(stream, "a")
    assert sum(result.phase(name).count for name in "abc") == 3000
    assert_edges_accounted_exactly(result, sim)


def test_a_counter_that_turns_unreadable_between_marks_is_reported(tmp_path):
    tree = single_socket(tmp_path)  # static counters: nothing rewrites the broken file
    counter = tree.energy_file("intel-rapl:0")
    counter.write_text("0000000\n")  # as wide as what replaces it, so it is replaced in one write
    run = jouleflow.track(powercap_root=str(tree.root), gpus=False, interval_s=0.002).start()
    mark, stream = run.marker(), run.stream()
    mark(stream, "a")
    # A broken driver's answer, in place: the sampler reading between a truncation and a write
    # would see an empty file instead, a different failure from the one this test makes.
    fd = os.open(counter, os.O_WRONLY)
    os.pwrite(fd, b"garbage\n", 0)
    os.close(fd)
    for _ in range(50):
        mark(stream, "b")
        mark(stream, "a")
        time.sleep(0.001)
    mark(stream, None)
    result = run.stop()
    assert result.phase("a").count == 51 and result.phase("b").count == 50
    assert any("powercap" in w and "garbage" in w for w in result.warnings), result.warnings


def test_a_store_that_cannot_be_opened_leaves_the_measurement_whole(simulated_socket, tmp_path):
    """The store opens on its own thread; when it cannot, the result says so and nothing else
    changes (``jouleflow run`` refuses such a store before running anything: test_store_crash)."""
    tree, sim = simulated_socket
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    with jouleflow.track(powercap_root=str(tree.root), gpus=False, db=str(folder)) as run:
        time.sleep(0.2)
    result = run.result
    assert run.store_path is None
    assert any(
        f"not saved to the run store {folder}" in w and "is a folder" in w for w in result.warnings
    ), result.warnings
    start, end = result.window_ns
    assert result.component("rapl:package-0").energy_j == pytest.approx(
        sim.energy_j("intel-rapl:0", start, end), abs=0.2
    )


def test_package_parts_are_split_over_edges_like_their_package_between_full_readings(tmp_path):
    """Edges do not read core/uncore; each batch gives them out as the package's energy went."""
    tree = single_socket(tmp_path)  # static counters, written by the test
    package, core = tree.energy_file("intel-rapl:0"), tree.energy_file("intel-rapl:0:0")
    # No store: its first save takes a full reading whenever its thread gets to it, and that
    # would end a batch at an instant this test does not choose.
    run = jouleflow.track(
        powercap_root=str(tree.root), gpus=False, interval_s=60.0, db=False
    ).start()
    assert {d.id for d in run.domains if d.source == "powercap" and not d.edge_read} == {
        "rapl:package-0:core"
    }
    mark, stream = run.marker(), run.stream()
    mark(stream, "a")
    package.write_text("10000000\n")  # a: package +10 J, core +5 J
    core.write_text("5000000\n")
    mark(stream, "b")
    run.partial_result()  # a full reading: the first batch ends here
    package.write_text("20000000\n")  # b: package +10 J, core +1 J
    core.write_text("6000000\n")
    mark(stream, "c")
    package.write_text("30000000\n")  # c: package +10 J, core +3 J, in the same batch as b
    core.write_text("9000000\n")
    mark(stream, None)
    result = run.stop()
    parts = {name: result.phase(name).self_energy_j for name in "abc"}
    assert parts["a"]["rapl:package-0"] == pytest.approx(10.0)
    assert parts["a"]["rapl:package-0:core"] == pytest.approx(5.0)  # its own batch: exact
    # b and c share a batch: its 4 J of core go out as its package's 20 J did, half each
    assert parts["b"]["rapl:package-0:core"] == pytest.approx(2.0)
    assert parts["c"]["rapl:package-0:core"] == pytest.approx(2.0)
    core_total = result.component("rapl:package-0:core").energy_j
    assert core_total == pytest.approx(9.0)
    assert sum(p["rapl:package-0:core"] for p in parts.values()) + result.unattributed_j[
        "rapl:package-0:core"
    ] == pytest.approx(core_total, rel=1e-12)


def test_package_parts_follow_their_package_through_a_busy_run(simulated_socket):
    tree, sim = simulated_socket  # core is 25 W of the package's 40 W throughout
    run = jouleflow.track(powercap_root=str(tree.root), gpus=False, interval_s=0.01).start()
    mark, stream = run.marker(), run.stream()
    for k in range(2000):
        mark(stream, ("a", "b")[k % 2])
        if k % 100 == 0:
            time.sleep(0.02)
    mark(stream, None)
    result = run.stop()
    core = "rapl:package-0:core"
    for name in "ab":
        phase = result.phase(name)
        assert phase.self_energy_j[core] == pytest.approx(
            phase.self_energy_j["rapl:package-0"] * CORE_W / PACKAGE_W, rel=0.02, abs=0.002
        )
    start, end = result.window_ns
    assert result.component(core).energy_j == pytest.approx(
        sim.energy_j("intel-rapl:0:0", start, end), abs=0.1
    )


def test_marking_the_open_phase_again_does_nothing(simulated_socket):
    tree, _ = simulated_socket
    with jouleflow.track(powercap_root=str(tree.root), gpus=False) as run:
        for mark in (run.mark, run.marker()):
            stream = run.stream()
            for name in ("a", "a", "b", "b", "b", "a", None, None):
                mark(stream, name)
    assert run.result.phase("a").count == 4 and run.result.phase("b").count == 2
