"""The meter against simulated RAPL counters whose true energy is known exactly."""

import time

import pytest

from jouleflow.errors import SensorError
from jouleflow.sampling.meter import Meter
from jouleflow.sampling.sampler import sample_interval_ns
from jouleflow.sensors.powercap import PowercapSensor
from jouleflow.testing import (
    ConstantPower,
    FakeZone,
    PowercapSimulator,
    SquareWave,
    build_powercap_tree,
    two_socket_with_dram,
)


def open_meter(root):
    sensor = PowercapSensor(root)
    return Meter([(sensor, sensor.open())])


def test_window_energy_matches_the_truth_per_zone(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    traces = {
        "intel-rapl:0": ConstantPower(80.0),
        "intel-rapl:0:0": ConstantPower(12.0),
        "intel-rapl:0:1": SquareWave(20.0, 60.0, 0.05),
        "intel-rapl:1": ConstantPower(65.0),
        "intel-rapl:1:0": ConstantPower(9.0),
        "intel-rapl:1:1": ConstantPower(30.0),
    }
    with PowercapSimulator(tree, traces, process=True) as sim:
        time.sleep(0.2)
        meter = open_meter(tree.root)
        t0, start = meter.start()
        for _ in range(10):
            time.sleep(0.1)
            meter.snapshot()
        t1, end = meter.snapshot()
        meter.close()
    ids = [d.id for d in meter.domains]
    links = {
        "rapl:package-0": "intel-rapl:0",
        "rapl:package-0:dram": "intel-rapl:0:0",
        "rapl:package-0:core": "intel-rapl:0:1",
        "rapl:package-1": "intel-rapl:1",
        "rapl:package-1:dram": "intel-rapl:1:0",
        "rapl:package-1:core": "intel-rapl:1:1",
    }
    for i, domain_id in enumerate(ids):
        truth_j = sim.energy_j(links[domain_id], t0, t1)
        measured_j = (end[i] - start[i]) / 1e6
        # floor: one 1 ms counter tick per edge at peak power; the margin to 5 ms per edge absorbs
        # the simulator being descheduled on a loaded machine (accuracy itself is in bench/)
        peak_w = max(traces[links[domain_id]].power_w(x / 100) for x in range(100))
        assert measured_j == pytest.approx(truth_j, abs=2 * peak_w * 0.005), domain_id


def test_counter_wrapping_many_times_inside_the_window_loses_nothing(tmp_path):
    tree = build_powercap_tree(
        tmp_path,
        [
            FakeZone(
                "intel-rapl:0",
                "package-0",
                max_energy_range_uj=19_999_999,
                max_power_uw=150_000_000,
            )
        ],
    )
    with PowercapSimulator(
        tree,
        {"intel-rapl:0": ConstantPower(100.0)},
        initial_uj={"intel-rapl:0": 19_000_000},
        process=True,
    ) as sim:
        time.sleep(0.1)
        meter = open_meter(tree.root)
        interval_ns = sample_interval_ns(0.1, meter.domains)
        assert interval_ns < 20_000_000 / 150 * 1000 / 2  # polls well inside one wrap
        t0, start = meter.start()
        deadline = t0 + 1_000_000_000
        while time.monotonic_ns() < deadline:
            time.sleep(interval_ns / 1e9)
            meter.snapshot()
        t1, end = meter.snapshot()
        meter.close()
    truth_j = sim.energy_j("intel-rapl:0", t0, t1)
    assert truth_j > 5 * 20  # at least five wraps
    # one missed wrap would be 20 J; the tolerance is 5 ms of power per edge
    assert (end[0] - start[0]) / 1e6 == pytest.approx(truth_j, abs=2 * 100.0 * 0.005)


def test_a_failing_sensor_is_reported_not_hidden(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    meter = open_meter(tree.root)
    meter.start()
    tree.energy_file("intel-rapl:1").write_text("garbage\n")  # a broken driver's answer
    meter.snapshot()
    meter.close()
    assert meter.errors and "powercap" in meter.errors[0]


def test_a_split_edge_read_decodes_to_what_an_edge_read_gives(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    meter = open_meter(tree.root)
    meter.start()
    split = meter.raw_edge_reader()
    assert split is not None
    read_raw, decode = split
    raw = read_raw()
    assert all(isinstance(text, bytes) for text in raw)  # nothing parsed at the edge
    assert tuple(decode(raw)) == tuple(meter.read(edge=True)[1])
    tree.energy_file("intel-rapl:0").write_text("1234\n")
    assert decode(read_raw())[0] == 1234
    meter.close()


def test_an_undecodable_edge_reading_fails_its_sensor_and_counts_as_none(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    meter = open_meter(tree.root)
    meter.start()
    read_raw, decode = meter.raw_edge_reader()
    tree.energy_file("intel-rapl:1").write_text("garbage\n")  # a broken driver's answer
    assert set(decode(read_raw())) == {None}
    assert meter.failed and "powercap" in meter.errors[0] and "garbage" in meter.errors[0]
    assert meter.raw_edge_reader() is None  # nothing left to read at an edge
    meter.close()


def test_edges_read_by_two_sensors_are_not_split(tmp_path):
    first, second = two_socket_with_dram(tmp_path / "a"), two_socket_with_dram(tmp_path / "b")
    sensors = [PowercapSensor(first.root), PowercapSensor(second.root)]
    meter = Meter([(sensor, sensor.open()) for sensor in sensors])
    meter.start()
    assert meter.raw_edge_reader() is None
    meter.close()


def test_a_closed_sensor_never_reads_a_descriptor_again(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    sensor = PowercapSensor(tree.root)
    sensor.open()
    read_raw = sensor.read_raw
    assert read_raw()
    sensor.close()
    with pytest.raises(SensorError, match="not open"):
        sensor.read_raw()


class DeferredBaseline:
    """A sensor with ``prime``: zero power at first by definition, its baseline taken later."""

    name = "deferred"

    def __init__(self):
        self.reads = 0

    def open(self):
        from jouleflow.records import ComponentKind, Domain, Method, ReadingKind

        return (
            Domain(
                id="estimate:disk",
                kind=ComponentKind.DISK_ESTIMATE,
                source="test",
                method=Method.ESTIMATE,
                reading=ReadingKind.POWER_MW,
                label="disk",
                edge_read=False,
            ),
        )

    def read(self):
        self.reads += 1
        return (2000,)

    def read_edges(self):
        return (None,)

    def prime(self):
        self.read()

    def close(self):
        pass


def test_a_sensor_with_prime_is_not_read_at_the_start():
    sensor = DeferredBaseline()
    meter = Meter([(sensor, sensor.open())])
    _, zero = meter.start()
    assert sensor.reads == 0 and zero == (0.0,)
    meter.prime()
    assert sensor.reads == 1
    time.sleep(0.01)
    t1, cum = meter.snapshot()  # holds 0 mW until its first periodic reading
    assert cum == (0.0,) and sensor.reads == 2
    t2, cum = meter.snapshot()
    assert cum[0] == pytest.approx(2000 * (t2 - t1) * 1e-6)  # 2 W held since that reading


def test_mean_power_sensors_read_less_often_and_their_total_is_whole(tmp_path):
    """Bytes at a steady rate: the estimate over the window is whole, read every 0.1 s or not."""
    from jouleflow.sensors.io_estimate import DiskEstimator

    rate_bytes_per_s = 2e8
    t0 = time.monotonic_ns()

    reads = []

    def counters():  # what psutil would say: one call per estimator read
        reads.append(1)
        return {"vda": int(rate_bytes_per_s * (time.monotonic_ns() - t0) / 1e9)}

    estimator = DiskEstimator(sys_root=tmp_path / "no-sysfs", counters=counters)
    estimator.read_every_s = 0.1  # paced (5 s by default), so several samples hold a reading
    meter = Meter([(estimator, estimator.open())])
    reads.clear()  # open() listed the devices
    meter.start()
    meter.prime()
    primed_ns = time.monotonic_ns()
    for _ in range(20):
        time.sleep(0.02)
        meter.snapshot()
    t_ns, readings = meter.read(force=True)
    end = meter.advance(t_ns, readings, final=True)
    assert 3 <= len(reads) <= 8  # the prime, a few paced reads over 0.4 s, the final one
    expected_j = rate_bytes_per_s * (t_ns - primed_ns) / 1e9 * estimator.j_per_byte
    assert end[0] / 1e6 == pytest.approx(expected_j, rel=0.05)
