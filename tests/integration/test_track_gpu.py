"""GPUs through the simulated libnvidia-ml, measured by track() and `jouleflow run`."""

import json
import os
import subprocess
import sys
import time

import pytest

import jouleflow
from jouleflow.records import ComponentKind, Method
from jouleflow.testing import FakeGpu

COUNTER_GPU = FakeGpu(
    "NVIDIA H100 80GB HBM3", "GPU-11111111-aaaa", has_energy_counter=True, watts=300.0
)
POWER_ONLY_GPU = FakeGpu("Tesla K80", "GPU-22222222-bbbb", has_energy_counter=False, watts=120.0)


@pytest.fixture
def two_gpus(simulated_nvml, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    sim = simulated_nvml([COUNTER_GPU, POWER_ONLY_GPU])
    time.sleep(1.1)  # let the power-only board's 1 s trailing average settle, as on hardware
    return sim


def test_each_gpu_reports_its_method_and_matches_the_truth(two_gpus, tmp_path):
    sim = two_gpus
    with jouleflow.track(powercap_root=str(tmp_path), nvml_library=str(sim.library_path)) as run:
        time.sleep(1.0)
    result = run.result
    start, end = result.window_ns
    counter = result.component("nvml:0")
    assert counter.kind is ComponentKind.GPU and counter.method is Method.COUNTER
    assert counter.uuid == COUNTER_GPU.uuid and counter.name == COUNTER_GPU.name
    assert counter.energy_j == pytest.approx(sim.energy_j(0, start, end), rel=0.005)
    power = result.component("nvml:1")
    assert power.method is Method.POWER_INTEGRATION
    assert power.energy_j == pytest.approx(sim.energy_j(1, start, end), rel=0.02)
    assert power.uncertainty_j >= 0.05 * power.energy_j  # NVML's ±5 % is carried, not hidden
    assert result.measured_j >= counter.energy_j + power.energy_j


def test_cuda_visible_devices_by_uuid_limits_the_run(two_gpus, tmp_path):
    env = {
        **os.environ,
        **two_gpus.env,
        "CUDA_VISIBLE_DEVICES": "GPU-22222222",
        "JOULEFLOW_POWERCAP_ROOT": str(tmp_path),
    }
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jouleflow",
            "run",
            "--json",
            str(out),
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(0.3)",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    gpus = [c for c in json.loads(out.read_text())["components"] if c["kind"] == "gpu"]
    assert [(g["id"], g["uuid"], g["method"]) for g in gpus] == [
        ("nvml:1", POWER_ONLY_GPU.uuid, "power_integration")
    ]
    assert "Tesla K80" in proc.stderr
