"""explain(): the decomposition of a run into arithmetic, data movement, static and the rest."""

from __future__ import annotations

import pytest

from jouleflow.explain import Calibration, Fit, explain, load_tables
from jouleflow.records import (
    ComponentEnergy,
    ComponentKind,
    LayerBreakdown,
    LayerEnergy,
    Method,
    PhaseEnergy,
    RunResult,
)

STEPS = 100
FWD_S, BWD_S = 2.0, 4.0


def component(cid: str, kind: ComponentKind, energy_j: float, method=Method.COUNTER, **kw):
    return ComponentEnergy(cid, kind, energy_j, method, kw.pop("source", "powercap"), 0.0,
                           cid, **kw)  # fmt: skip


def phase(name: str, count: int, duration_s: float, energy: dict[str, float], self_share=1.0):
    return PhaseEnergy(
        name, count, duration_s, energy, {k: v * self_share for k, v in energy.items()}
    )


def result(*, gpu: bool = False, estimated: bool = False, layers: bool = True) -> RunResult:
    method = Method.ESTIMATE if estimated else Method.COUNTER
    components = [
        component("rapl:package-0", ComponentKind.CPU_PACKAGE, 300.0, method),
        component("rapl:package-0:dram", ComponentKind.DRAM, 40.0, method),
        component("estimate:disk", ComponentKind.DISK_ESTIMATE, 1.0, Method.ESTIMATE),
    ]
    if gpu:
        components.append(
            component(
                "nvml:0", ComponentKind.GPU, 2000.0, source="nvml", name="NVIDIA H100 80GB HBM3"
            )
        )
    gpu_share = {"nvml:0": 1.0} if gpu else {}

    def split(total: float) -> dict[str, float]:
        """CPU package and DRAM share ``total``; a GPU draws 5 × as much beside them."""
        parts = {"rapl:package-0": total * 0.8, "rapl:package-0:dram": total * 0.2}
        return parts | {k: total * 5 * w for k, w in gpu_share.items()}

    phases = (
        phase("epoch", 1, 10.0, split(200.0), self_share=0.0),
        phase("forward", STEPS, FWD_S, split(50.0)),
        phase("backward", STEPS, BWD_S, split(100.0)),
        phase("optimizer", STEPS, 1.0, split(20.0)),
        phase("flop-count", 1, 0.01, split(0.2)),
    )
    breakdown = None
    if layers:
        breakdown = LayerBreakdown(
            (
                # per step: 3 × forward FLOPs, forward bytes
                LayerEnergy("fc1", "Linear", STEPS, 1.2, 0.6, 90.0, flops=3 * 4e9, bytes_moved=2e6),
                LayerEnergy("act", "ReLU", STEPS, 0.4, 0.2, 30.0, flops=0.0, bytes_moved=8e7),
                LayerEnergy("fc2", "Linear", STEPS, 0.2, 0.1, 15.0, flops=3 * 1e9, bytes_moved=1e6),
            ),
            15.0,
            "test",
        )
    return RunResult(
        run_id="f" * 32,
        name="train",
        command=None,
        started_at="2026-01-01T00:00:00+00:00",
        window_ns=(0, 12_000_000_000),
        exit_code=0,
        status="completed",
        components=tuple(components),
        phases=phases,
        unattributed_j={},
        sensors=(),
        warnings=(),
        host={"cpu_model": "Intel(R) Xeon(R) Platinum 8480+", "cpu_count": "112"},
        sample_interval_s=0.1,
        samples=120,
        layers=breakdown,
    )


def test_each_phase_is_arithmetic_plus_data_plus_static_and_the_rest_is_unexplained():
    explanation = explain(result(), precision="fp32")
    costs = explanation.costs
    assert costs.device.key == "xeon-spr" and costs.precision == "fp32"
    jf, jb, idle = costs.j_per_flop.value, costs.j_per_byte.value, costs.idle_w.value
    forward = {p.name: p for p in explanation.phases}["forward"]
    step_flops, step_bytes = 5e9, 2e6 + 8e7 + 1e6  # Σ flops/3, Σ bytes over the layers
    assert forward.work.flops == pytest.approx(STEPS * step_flops)
    assert forward.work.bytes == pytest.approx(STEPS * step_bytes)
    assert forward.arithmetic_j == pytest.approx(STEPS * step_flops * jf)
    assert forward.data_j == pytest.approx(STEPS * step_bytes * jb)
    assert forward.static_j == pytest.approx(idle * FWD_S)
    assert forward.measured_j == pytest.approx(50.0)  # CPU package + DRAM, not the disk
    assert forward.unexplained_j == pytest.approx(
        50.0 - forward.arithmetic_j - forward.data_j - forward.static_j
    )
    backward = {p.name: p for p in explanation.phases}["backward"]
    assert backward.work.flops == pytest.approx(2 * STEPS * step_flops)
    assert backward.work.bytes == pytest.approx(2 * STEPS * step_bytes)
    flop_count = {p.name: p for p in explanation.phases}["flop-count"]
    assert flop_count.work.flops == pytest.approx(step_flops)
    optimizer = {p.name: p for p in explanation.phases}["optimizer"]
    assert optimizer.work is None and optimizer.arithmetic_j is None
    assert optimizer.static_j == pytest.approx(idle * 1.0)
    assert "epoch" not in {p.name for p in explanation.phases}
    assert any("'epoch' contains other phases" in n for n in explanation.notes)
    run = explanation.run
    assert run.work.flops == pytest.approx((3 * STEPS + 1) * step_flops)
    assert run.measured_j == pytest.approx(340.0) and explanation.rest_j == pytest.approx(1.0)
    assert run.achieved_j_per_flop == pytest.approx(340.0 / run.work.flops)
    assert run.static_j == pytest.approx(idle * 12.0)


def test_layers_are_compute_or_memory_bound_by_the_ridge_point():
    explanation = explain(result(), precision="fp32")
    ridge = explanation.costs.ridge_flop_per_byte
    layers = {p.name: p for p in explanation.layers}
    assert ridge < 4e9 / 2e6 and layers["fc1"].bound == "compute"
    assert layers["act"].bound == "memory" and layers["act"].arithmetic_j == 0
    assert layers["fc1"].work.flops == pytest.approx(STEPS * 4e9 * 3)
    assert layers["fc1"].work.bytes == pytest.approx(STEPS * 2e6 * 3)
    assert layers["fc1"].static_j == pytest.approx(explanation.costs.idle_w.value * 0.6 * 6.0)
    # every part of forward + backward measured here is CPU: the layer keeps its energy
    assert layers["fc1"].measured_j == pytest.approx(90.0)


def test_a_gpu_run_is_explained_on_the_gpu_with_only_the_gpu_measured():
    explanation = explain(result(gpu=True), precision="bf16")
    assert explanation.costs.device.key == "h100"
    assert explanation.components == ("nvml:0",)
    assert explanation.run.measured_j == pytest.approx(2000.0)
    assert explanation.rest_j == pytest.approx(341.0)
    forward = {p.name: p for p in explanation.phases}["forward"]
    assert forward.measured_j == pytest.approx(250.0)
    # a layer keeps the GPU's share of forward + backward
    assert {p.name: p for p in explanation.layers}["fc1"].measured_j == pytest.approx(
        90.0 * 750 / 900
    )
    assert "GPU 'NVIDIA H100 80GB HBM3'" in explanation.device_reason


def test_estimated_energy_is_said_to_be_an_estimate():
    explanation = explain(result(estimated=True))
    assert explanation.measured_is_estimate
    assert "estimated (powercap)" in explanation.measured_how
    assert any("itself an estimate" in n for n in explanation.notes)
    assert any("precision assumed fp32" in n for n in explanation.notes)
    assert not explain(result(), precision="fp32").measured_is_estimate


def test_without_layers_only_static_power_is_modelled():
    explanation = explain(result(layers=False), hardware="cpu-generic", precision="fp32")
    assert explanation.run.work is None and explanation.layers == ()
    assert all(p.arithmetic_j is None for p in explanation.phases)
    assert any("no layers with FLOP counts" in n for n in explanation.notes)
    assert explanation.costs.device.key == "cpu-generic"
    assert explanation.costs.device.figure("tdp").value == pytest.approx(4 * 112)


def test_a_calibration_for_the_device_replaces_the_tables_costs():
    fit = Fit(50e-12, 150e-12, 120.0, (1e-12, 5e-12, 2.0), 0.01, 15)
    cal = Calibration.from_fit(
        fit, device="xeon-spr", device_name="Xeon", precision="fp32", components=["rapl"]
    )
    explanation = explain(result(), precision="fp32", calibrations={"xeon-spr": cal})
    assert explanation.costs.idle_w.value == 120.0
    assert explanation.costs.j_per_flop.label == "calibrated"
    forward = {p.name: p for p in explanation.phases}["forward"]
    assert forward.arithmetic_j == pytest.approx(STEPS * 5e9 * 50e-12)
    other = explain(result(), precision="fp32", calibrations={"h100": cal})
    assert other.costs.calibration is None


def test_the_explanation_document_carries_labels_and_sources():
    document = explain(result(), precision="fp32").to_dict()
    figures = document["costs"]["figures"]
    assert figures["peak_flops"]["label"] == "datasheet-bound"
    assert figures["peak_flops"]["source"] == "intel-xeon-8480plus"
    assert figures["alu_j_per_flop_45nm"]["source"] == "horowitz-isscc2014"
    assert document["measured"]["is_estimate"] is False
    assert document["tables_version"] == load_tables().version
    forward = next(p for p in document["phases"] if p["name"] == "forward")
    assert forward["modelled_j"] + forward["unexplained_j"] == pytest.approx(forward["measured_j"])
