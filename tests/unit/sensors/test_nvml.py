import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import pynvml
import pytest

from jouleflow.errors import SensorError
from jouleflow.records import ComponentKind, Method, ReadingKind
from jouleflow.sensors.base import Sensor
from jouleflow.sensors.nvml import INSTALL_FIX, NvmlSensor, select_visible
from jouleflow.testing.nvml import STATE_ENV, FakeGpu, compile_fake_nvml

H100 = "NVIDIA H100 80GB HBM3"
UUIDS = [
    "GPU-3f1c2a9e-0b5d-4c7e-9a61-2d8f4b7c1e03",
    "GPU-3f9d6b12-77aa-4e01-b3c5-90e1f2a4d6c8",
    "GPU-a04e5c3b-1d2f-4a6b-8c9d-0e1f2a3b4c5d",
]


def counter_gpus(n=3, watts=(300.0, 120.0, 45.0)):
    return [
        FakeGpu(H100, UUIDS[i], True, watts[i], initial_energy_mj=9_000_000_000 + i)
        for i in range(n)
    ]


def sensor_for(sim, visible_devices=None):
    return NvmlSensor(library_path=str(sim.library_path), visible_devices=visible_devices)


@contextlib.contextmanager
def opened(sensor):
    try:
        yield sensor.open()
    finally:
        sensor.close()


def bracketed_read(sensor):
    before = time.monotonic_ns()
    values = sensor.read()
    return before, values, time.monotonic_ns()


def test_it_is_a_sensor():
    assert isinstance(NvmlSensor(visible_devices=None), Sensor)


def test_counter_gpus_report_energy_of_a_window_exactly(simulated_nvml):
    sim = simulated_nvml(counter_gpus())
    sensor = sensor_for(sim)
    with opened(sensor) as domains:
        assert [d.id for d in domains] == ["nvml:0", "nvml:1", "nvml:2"]
        for d in domains:
            assert d.kind is ComponentKind.GPU and d.source == "nvml"
            assert d.method is Method.COUNTER and d.reading is ReadingKind.ENERGY_UJ
            assert d.wrap_uj is None and d.edge_read and d.max_power_w == 700.0
            assert d.label == f"GPU {d.index} {H100}" and d.uuid == UUIDS[d.index]
        a1, first, b1 = bracketed_read(sensor)
        time.sleep(0.15)
        sim.set_power(0, 650.0)
        sim.set_power(2, 0.0)
        time.sleep(0.15)
        a2, second, b2 = bracketed_read(sensor)
    for i in range(3):
        assert first[i] >= (9_000_000_000 + i) * 1000  # counters start where the driver's did
        measured_j = (second[i] - first[i]) / 1e6
        # The reads happened somewhere inside their brackets: the truth lies between these.
        low, high = sim.energy_j(i, b1, a2), sim.energy_j(i, a1, b2)
        tolerance = 0.001 * high + 0.001  # 0.1 % and one 1 mJ tick
        assert low - tolerance <= measured_j <= high + tolerance


def test_counters_never_go_back_while_the_power_changes_under_busy_readers(simulated_nvml):
    # Regression: a state file replaced late (the writer waiting for the GIL) used to rewrite
    # the past, and a counter read in between went backwards.
    sim = simulated_nvml(counter_gpus(1))
    sensor = sensor_for(sim)
    decreases = []
    stop = threading.Event()

    def reader():
        last = 0
        while not stop.is_set():
            (value,) = sensor.read()
            if value < last:
                decreases.append((last, value))
            last = value

    with opened(sensor):
        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for i in range(30):
                sim.set_power(0, 700.0 if i % 2 else 5.0)
        finally:
            stop.set()
            for t in threads:
                t.join()
        time.sleep(0.05)
        a, (value,), b = bracketed_read(sensor)
    assert decreases == []
    measured_j = value / 1e6 - 9_000_000
    assert sim.energy_j(0, sim.t0_ns, a) - 0.001 <= measured_j <= sim.energy_j(0, sim.t0_ns, b)


def test_read_edges_reads_counters(simulated_nvml):
    sim = simulated_nvml(counter_gpus(1))
    sensor = sensor_for(sim)
    with opened(sensor):
        edge = sensor.read_edges()
        later = sensor.read()
    assert edge[0] is not None and 0 <= later[0] - edge[0] < 1_000_000


def test_gpu_without_counter_integrates_its_trailing_average_power(simulated_nvml):
    sim = simulated_nvml([FakeGpu("Tesla P100-PCIE-16GB", UUIDS[0], False, 200.0)])
    sensor = sensor_for(sim)
    with opened(sensor) as domains:
        (domain,) = domains
        assert domain.method is Method.POWER_INTEGRATION
        assert domain.reading is ReadingKind.POWER_MW
        assert not domain.edge_read and domain.uncertainty_rel == 0.05
        assert sensor.read_edges() == (None,)
        assert sensor.read() == (200_000,)
        sim.set_power(0, 300.0)
        time.sleep(0.3)
        a, (power_mw,), b = bracketed_read(sensor)
    # a 1 s trailing average: part way from 200 W to 300 W, rising while we read
    low, high = sim.average_power_w(0, a), sim.average_power_w(0, b)
    assert 200 < low <= high <= 300
    assert low * 1000 - 1 <= power_mw <= high * 1000 + 1


def test_instant_power_field_is_preferred_over_the_average(simulated_nvml):
    sim = simulated_nvml([FakeGpu("Tesla V100S", UUIDS[0], False, 100.0, has_instant_power=True)])
    sensor = sensor_for(sim)
    assert "NVML_FI_DEV_POWER_INSTANT" in sensor.probe().reason
    with opened(sensor) as (domain,):
        assert domain.method is Method.POWER_INTEGRATION
        sim.set_power(0, 250.0)
        assert sensor.read() == (250_000,)  # no lag, unlike the trailing average


def test_mixed_gpus_each_use_their_best_reading(simulated_nvml):
    sim = simulated_nvml(
        [
            FakeGpu(H100, UUIDS[0], True, 400.0),
            FakeGpu("Tesla P4", UUIDS[1], False, 60.0, power_limit_w=None),
        ]
    )
    sensor = sensor_for(sim)
    found = sensor.probe()
    assert found.available and found.domains == ("nvml:0", "nvml:1")
    assert f"GPU 0 {H100}: energy counter" in found.reason
    assert "GPU 1 Tesla P4: power" in found.reason and "550.54.15" in found.reason
    with opened(sensor) as domains:
        assert [d.method for d in domains] == [Method.COUNTER, Method.POWER_INTEGRATION]
        assert domains[1].max_power_w is None
        edges = sensor.read_edges()
        values = sensor.read()
    assert edges[0] is not None and edges[1] is None
    assert values[1] == 60_000


@pytest.mark.parametrize(
    ("visible", "ids"),
    [
        ("2,0", ["nvml:2", "nvml:0"]),
        ("1", ["nvml:1"]),
        (" 0 , 2 ", ["nvml:0", "nvml:2"]),
        ("1,7,0", ["nvml:1"]),  # an invalid entry ends the list, like CUDA
        ("0,0,1", ["nvml:0"]),
        (f"{UUIDS[2]},{UUIDS[0]}", ["nvml:2", "nvml:0"]),
        ("GPU-a04e,GPU-3f1", ["nvml:2", "nvml:0"]),  # unique prefixes
        ("GPU-A04E5C3B", ["nvml:2"]),
        ("1,GPU-3f", ["nvml:1"]),  # an ambiguous prefix matches nothing
    ],
)
def test_cuda_visible_devices_selects_gpus_in_order(simulated_nvml, monkeypatch, visible, ids):
    sim = simulated_nvml(counter_gpus())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    sensor = NvmlSensor(library_path=str(sim.library_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # read when the sensor was made
    found = sensor.probe()
    assert found.available and list(found.domains) == ids
    assert "CUDA_VISIBLE_DEVICES" in found.reason
    with opened(sensor) as domains:
        assert [d.id for d in domains] == ids
        assert [d.uuid for d in domains] == [UUIDS[int(i.split(":")[1])] for i in ids]


@pytest.mark.parametrize("visible", ["", "-1", "7", "MIG-3f1c2a9e"])
def test_cuda_visible_devices_can_hide_every_gpu(simulated_nvml, monkeypatch, visible):
    sim = simulated_nvml(counter_gpus())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    sensor = NvmlSensor(library_path=str(sim.library_path))
    found = sensor.probe()
    assert not found.available and "CUDA_VISIBLE_DEVICES" in found.reason
    assert "unset CUDA_VISIBLE_DEVICES" in found.fix
    with pytest.raises(SensorError):
        sensor.open()


def test_unset_cuda_visible_devices_shows_every_gpu(simulated_nvml, monkeypatch):
    sim = simulated_nvml(counter_gpus())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert NvmlSensor(library_path=str(sim.library_path)).probe().domains == (
        "nvml:0",
        "nvml:1",
        "nvml:2",
    )


def test_select_visible_is_cudas_rule():
    assert select_visible(None, UUIDS) == ([0, 1, 2], None)
    assert select_visible("", UUIDS) == ([], None)
    chosen, note = select_visible("2,x,1", UUIDS)
    assert chosen == [2] and "'x'" in note


def test_no_gpu(simulated_nvml):
    sim = simulated_nvml([])
    sensor = sensor_for(sim)
    found = sensor.probe()
    assert not found.available and "no NVIDIA GPU found" in found.reason and found.fix
    with pytest.raises(SensorError, match="no NVIDIA GPU"):
        sensor.open()


def test_missing_library_is_a_reason_not_an_exception(tmp_path):
    sensor = NvmlSensor(library_path=str(tmp_path / "libnvidia-ml.so.1"), visible_devices=None)
    found = sensor.probe()
    assert not found.available
    assert "cannot load the NVML library" in found.reason and found.fix
    with pytest.raises(SensorError) as raised:
        sensor.open()
    assert isinstance(raised.value.__cause__, OSError)


def test_driver_not_loaded(simulated_nvml):
    sim = simulated_nvml(counter_gpus(1), driver_loaded=False)
    found = sensor_for(sim).probe()
    assert not found.available and "driver is not loaded" in found.reason
    assert "modprobe nvidia" in found.fix
    sim.set_driver_loaded(True)
    assert sensor_for(sim).probe().available


def test_library_without_state_behaves_like_a_missing_driver(fake_nvml_library, monkeypatch):
    monkeypatch.delenv(STATE_ENV, raising=False)
    found = NvmlSensor(library_path=str(fake_nvml_library), visible_devices=None).probe()
    assert not found.available and "driver is not loaded" in found.reason


def test_a_lost_gpu_fails_the_read_with_the_nvml_error_as_cause(simulated_nvml):
    sim = simulated_nvml(counter_gpus(2))
    sensor = sensor_for(sim)
    with opened(sensor):
        sensor.read()
        sim.lose_gpu(1)
        with pytest.raises(SensorError, match="GPU 1") as raised:
            sensor.read()
    assert isinstance(raised.value.__cause__, pynvml.NVMLError_GpuIsLost)
    assert raised.value.fix


def test_close_shuts_nvml_down_so_another_library_can_be_used(simulated_nvml, tmp_path):
    sim = simulated_nvml(counter_gpus(1))
    sensor = sensor_for(sim)
    other = NvmlSensor(library_path=str(tmp_path / "elsewhere.so"), visible_devices=None)
    sensor.open()
    try:
        # pynvml holds one library per process: no switching while NVML is initialised
        assert "already in use" in other.probe().reason
        assert sensor_for(sim).probe().available  # the same library is fine
    finally:
        sensor.close()
    sensor.close()  # twice is harmless
    assert "cannot load" in other.probe().reason


def test_importing_jouleflow_does_not_import_pynvml():
    code = (
        "import sys, jouleflow, jouleflow.sensors.nvml, jouleflow.sensors.amdsmi; "
        "assert 'pynvml' not in sys.modules and 'amdsmi' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_child_env({}))


def test_missing_bindings_name_the_extra():
    # sys.modules[name] = None is how Python spells "this module cannot be imported"
    code = (
        "import sys, json; sys.modules['pynvml'] = None\n"
        "from jouleflow.sensors.nvml import NvmlSensor\n"
        "a = NvmlSensor(visible_devices=None).probe()\n"
        "print(json.dumps([a.available, a.reason, a.fix]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=_child_env({}),
    )
    available, reason, fix = json.loads(out.stdout)
    assert not available and "nvidia-ml-py" in reason and fix == INSTALL_FIX


def test_a_child_process_sees_the_simulation_through_env(simulated_nvml):
    sim = simulated_nvml(counter_gpus(2))
    code = (
        "import json, os\n"
        "from jouleflow.sensors.nvml import NvmlSensor\n"
        "s = NvmlSensor(library_path=os.environ['JOULEFLOW_NVML_LIBRARY'])\n"
        "domains = s.open(); values = s.read(); s.close()\n"
        "print(json.dumps([[d.id for d in domains], values]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=_child_env({**sim.env, "CUDA_VISIBLE_DEVICES": "1"}),
    )
    ids, values = json.loads(out.stdout)
    assert ids == ["nvml:1"] and values[0] >= 9_000_000_001_000


def test_the_library_is_compiled_once(fake_nvml_library):
    before = fake_nvml_library.stat().st_mtime_ns
    assert compile_fake_nvml(fake_nvml_library.parent.parent) == fake_nvml_library
    assert fake_nvml_library.stat().st_mtime_ns == before


def _child_env(extra):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "..", "src")
    path = os.pathsep.join(p for p in (os.path.abspath(src), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}
