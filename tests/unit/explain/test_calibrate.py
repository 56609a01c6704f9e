"""Calibration: the fit, the stored file, and recovering known costs from simulated sensors."""

from __future__ import annotations

import json
import math
import os

import pytest

from jouleflow.config import MeterConfig
from jouleflow.explain import (
    Calibration,
    CalibrationError,
    ProbeSample,
    calibrate,
    costs_for,
    fit_costs,
    load_calibration,
    load_calibrations,
    load_tables,
    save_calibration,
)
from jouleflow.explain.records import CALIBRATED, Work
from jouleflow.testing import single_socket
from jouleflow.testing.cost_power import CostPowerSimulator, ReportingProbe

JF, JB, IDLE = 80e-12, 200e-12, 6.0  # J/FLOP, J/byte, W


def synthetic(jf: float, jb: float, idle: float, noise: float = 0.0) -> list[ProbeSample]:
    rows = [
        ("matmul-a", "compute", 5e8, 1e7, 0.02),
        ("matmul-b", "compute", 3e9, 4e7, 0.05),
        ("copy-a", "memory", 0.0, 2.7e8, 0.03),
        ("copy-b", "memory", 0.0, 1.1e9, 0.12),
        ("idle", "idle", 0.0, 0.0, 0.03),
    ]
    samples = []
    for i, (name, kind, f, b, t) in enumerate(rows * 3):
        wobble = 1 + noise * math.sin(7.0 * i + 1.0)  # deterministic "noise"
        samples.append(ProbeSample(name, kind, f, b, t, (jf * f + jb * b + idle * t) * wobble))
    return samples


def test_fit_is_exact_on_exact_samples():
    fit = fit_costs(synthetic(JF, JB, IDLE))
    assert fit.j_per_flop == pytest.approx(JF, rel=1e-9)
    assert fit.j_per_byte == pytest.approx(JB, rel=1e-9)
    assert fit.idle_w == pytest.approx(IDLE, rel=1e-9)
    assert fit.residual_rms_rel == pytest.approx(0.0, abs=1e-9)
    assert fit.samples == 15


def test_fit_with_noise_gives_standard_errors_that_cover_the_error():
    fit = fit_costs(synthetic(JF, JB, IDLE, noise=0.02))
    assert fit.residual_rms_rel > 0.005
    for got, true, err in zip(
        (fit.j_per_flop, fit.j_per_byte, fit.idle_w), (JF, JB, IDLE), fit.stderr
    ):
        assert abs(got - true) < 4 * err
        assert got == pytest.approx(true, rel=0.05)


def test_a_cost_that_fits_negative_is_clamped_to_zero_and_the_rest_refitted():
    samples = synthetic(0.0, JB, IDLE, noise=0.01)  # nothing per FLOP: the fit may go below 0
    fit = fit_costs(samples)
    assert fit.j_per_flop >= 0
    assert fit.idle_w == pytest.approx(IDLE, rel=0.03)


def test_too_few_or_indistinguishable_probes_are_refused():
    with pytest.raises(CalibrationError, match="at least 4"):
        fit_costs(synthetic(JF, JB, IDLE)[:3])
    same = [ProbeSample("p", "compute", 1e9, 1e9, 1.0, 10.0)] * 5  # three equal columns
    with pytest.raises(CalibrationError, match=r"singular|tell the costs apart"):
        fit_costs(same)


def test_calibration_recovers_known_costs_within_5_percent_from_simulated_sensors(tmp_path):
    """Real torch matmul/copy/sleep probes, measured through jouleflow.track() on a simulated
    RAPL package whose counter advances by known J/FLOP × FLOPs + J/byte × bytes + idle W × s."""
    torch = pytest.importorskip("torch")
    from jouleflow.explain.probes import standard_probes

    tree = single_socket(tmp_path / "sys", dram=False)
    config = MeterConfig(powercap_root=str(tree.root), gpus=False, estimates=False)
    threads = torch.get_num_threads()
    # Leave a CPU to the simulated hardware (the process that writes its counter): with every
    # CPU busy in torch it can lag by milliseconds, which real RAPL counters never do.
    torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 2) - 1)))
    try:
        with CostPowerSimulator(tree, j_per_flop=JF, j_per_byte=JB, idle_w=IDLE) as sim:
            probes = [ReportingProbe(p, sim) for p in standard_probes("cpu", "fp32", 0.03)]
            outcome = calibrate(hardware="cpu-generic", config=config, probes=probes, rounds=3)
    finally:
        torch.set_num_threads(threads)
    cal = outcome.calibration
    assert {s.kind for s in outcome.samples} == {"compute", "memory", "idle"}
    assert sim.flops > 1e9 and sim.bytes > 1e8  # the probes really ran
    assert cal.j_per_flop == pytest.approx(JF, rel=0.05)
    assert cal.j_per_byte == pytest.approx(JB, rel=0.05)
    assert cal.idle_w == pytest.approx(IDLE, rel=0.05)
    assert cal.components == ("rapl:package-0",)
    assert (cal.device, cal.precision, cal.samples) == ("cpu-generic", "fp32", 15)


def test_calibrate_refuses_when_no_sensor_measures_the_device(tmp_path):
    config = MeterConfig(powercap_root=str(tmp_path / "none"), gpus=False, estimates=True)

    class Noop:
        name, kind = "noop", "idle"

        def run(self) -> Work:
            return Work(0.0, 0.0)

    with pytest.raises(CalibrationError, match="no sensor measures the CPU") as err:
        calibrate(hardware="cpu-generic", config=config, probes=[Noop()])
    assert "jouleflow doctor" in str(err.value)


def calibration(device: str = "h100", precision: str = "bf16") -> Calibration:
    fit = fit_costs(synthetic(0.9e-12, 45e-12, 90.0, noise=0.01))
    return Calibration.from_fit(
        fit,
        device=device,
        device_name="NVIDIA H100",
        precision=precision,
        components=["nvml:gpu0"],
        hostname="node-1",
        created_at="2026-01-01T00:00:00+00:00",
    )


def test_calibrations_are_stored_per_device_and_read_back(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "calibration.json"
    monkeypatch.setenv("JOULEFLOW_CALIBRATION", str(path))
    assert load_calibrations() == {}
    first = calibration()
    assert save_calibration(first) == path
    save_calibration(calibration("a100"))
    assert load_calibration("h100") == first
    assert set(load_calibrations()) == {"a100", "h100"}
    document = json.loads(path.read_text())
    assert document["schema_version"] == 1 and document["devices"]["h100"]["hostname"] == "node-1"
    path.write_text("{not json")
    with pytest.raises(Exception, match="unreadable calibration file"):
        load_calibrations()


def test_costs_use_a_calibration_for_the_same_device_and_label_it():
    h100 = load_tables().device("h100")
    cal = calibration()
    costs = costs_for(h100, "bf16", cal)
    assert costs.j_per_flop.label == costs.j_per_byte.label == costs.idle_w.label == CALIBRATED
    assert costs.j_per_flop.value == cal.j_per_flop
    assert costs.idle_w.low < cal.idle_w < costs.idle_w.high
    assert "node-1" in costs.idle_w.source
    # another precision: J/FLOP stays the table's, and says so
    other = costs_for(h100, "fp16", cal)
    assert other.j_per_flop.label == "estimate" and other.idle_w.label == CALIBRATED
    assert any("calibration was made at bf16" in n for n in other.notes)
    # another device: ignored
    assert costs_for(load_tables().device("a100"), "bf16", cal).calibration is None
