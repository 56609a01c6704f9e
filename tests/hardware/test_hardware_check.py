"""Real hardware only (``pytest -m hardware``): wraps scripts/hardware_check.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hardware

SCRIPT = Path(__file__).parents[2] / "scripts" / "hardware_check.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("hw") / "check.json"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(out),
            "--seconds",
            "3",
            "--matmul-seconds",
            "2",
            "--steps",
            "50",
        ],
        check=True,
        timeout=300,
    )
    return json.loads(out.read_text())


def test_some_sensor_measures(report):
    assert any(s["available"] and s["measured"] for s in report["doctor"])


def test_gpu_counter_and_power_integration_agree(report):
    gpus = report["gpus"]
    if not gpus.get("available"):
        pytest.skip(gpus.get("reason", "no GPU"))
    for device in gpus["devices"]:
        assert 0.8 < device["power_vs_counter"]["ratio"] < 1.2
        for size in device["matmul"]:
            assert size["jouleflow_gpu_j"] > 0 and size["j_per_flop"] > 0


def test_phases_cover_the_training_loop(report):
    phases = report["phases"]
    if not phases.get("sync=True"):
        pytest.skip("no CUDA")
    synced = phases["sync=True"]["phases"]
    assert {"forward", "backward", "optimizer"} <= set(synced)
