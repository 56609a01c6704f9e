"""Runs built from jouleflow's own records (no sensor): every section of a report has data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jouleflow.records import (
    Availability,
    ComponentEnergy,
    ComponentKind,
    LayerBreakdown,
    LayerEnergy,
    Method,
    PhaseEnergy,
    RunResult,
)

T0_NS = 1_000_000_000_000
WATTS = {"rapl:package-0": 40.0, "rapl:package-0:dram": 6.0, "nvml:0": 300.0, "estimate:disk": 0.5}


def _components(seconds: float) -> tuple[ComponentEnergy, ...]:
    e = {k: w * seconds for k, w in WATTS.items()}
    return (
        ComponentEnergy(
            "rapl:package-0", ComponentKind.CPU_PACKAGE, e["rapl:package-0"], Method.COUNTER,
            "powercap", 0.4, "CPU package-0",
        ),
        ComponentEnergy(
            "rapl:package-0:core", ComponentKind.CPU_CORE, 0.6 * e["rapl:package-0"],
            Method.COUNTER, "powercap", 0.3, "package-0 core", in_total=False,
            parent="rapl:package-0",
        ),
        ComponentEnergy(
            "rapl:package-0:dram", ComponentKind.DRAM, e["rapl:package-0:dram"], Method.COUNTER,
            "powercap", 0.06, "package-0 dram",
        ),
        ComponentEnergy(
            "nvml:0", ComponentKind.GPU, e["nvml:0"], Method.POWER_INTEGRATION, "nvml",
            0.05 * e["nvml:0"], "GPU 0 NVIDIA H100", index=0, uuid="GPU-1234",
            name="NVIDIA H100",
        ),
        ComponentEnergy(
            "estimate:disk", ComponentKind.DISK_ESTIMATE, e["estimate:disk"], Method.ESTIMATE,
            "j-per-byte-model", e["estimate:disk"], "disk I/O (estimated)",
            model="10 nJ per byte",
        ),
    )  # fmt: skip


def _phase(
    name: str, components: tuple[ComponentEnergy, ...], share: float, self_share: float,
    seconds: float, windows: tuple[tuple[int, int], ...], count: int,
) -> PhaseEnergy:  # fmt: skip
    return PhaseEnergy(
        name=name,
        count=count,
        duration_s=seconds,
        energy_j={c.id: c.energy_j * share for c in components},
        self_energy_j={c.id: c.energy_j * self_share for c in components},
        windows_ns=windows,
    )


def build_result(
    *,
    seconds: float = 100.0,
    run_id: str = "3f2a9c41" + "0" * 24,
    name: str = "fine-tune",
    layers: bool = True,
    extras: bool = True,
) -> RunResult:
    """A 100 s run: an outer ``epoch`` phase holding forward / backward / optimizer steps."""
    components = _components(seconds)
    s = int(seconds * 1e9)

    def steps(offset: float, length: float) -> tuple[tuple[int, int], ...]:
        return tuple(
            (T0_NS + int(s * (0.1 + k * 0.008 + offset)),
             T0_NS + int(s * (0.1 + k * 0.008 + offset + length)))
            for k in range(100)
        )  # fmt: skip

    phases = (
        _phase("epoch", components, 0.8, 0.0, 0.8 * seconds,
               ((T0_NS + s // 10, T0_NS + 9 * s // 10),), 1),
        _phase("forward", components, 0.2, 0.2, 0.2 * seconds, steps(0.0, 0.002), 100),
        _phase("backward", components, 0.4, 0.4, 0.4 * seconds, steps(0.002, 0.004), 100),
        _phase("optimizer", components, 0.2, 0.2, 0.2 * seconds, steps(0.006, 0.002), 100),
    )  # fmt: skip
    encoders = [
        LayerEnergy(f"encoder.{k}", "Linear", 100, 2.0 / (k + 1), 0.1 / (k + 1),
                    300.0 - 25 * k, flops=1e12 / (k + 1), bytes_moved=1e9)
        for k in range(10)
    ]  # fmt: skip
    breakdown = LayerBreakdown(
        (*encoders, LayerEnergy("act", "ReLU", 100, 0.5, 0.025, 10.0)),
        unattributed_j=40.0,
        method="each module's share of the forward phase's measured time",
    )  # fmt: skip
    carbon: dict[str, Any] = {
        "co2e_g": 5.1,
        "operational_co2e_g": 5.1,
        "operational_uncertainty_g": 0.3,
        "embodied_co2e_g": None,
        "zone": "FR",
        "zone_name": "France",
        "zone_kind": "country",
        "region_source": "--region",
        "intensity_g_per_kwh": 56.0,
        "intensity_unit": "gCO2e/kWh",
        "intensity_kind": "table",
        "intensity_source": "Ember",
        "intensity_year": 2023,
        "intensity_licence": "CC BY 4.0",
        "pue": 1.0,
        "pue_source": "default for a local machine: no data-center overhead",
        "embodied": None,
        "equivalents": [],
        "notes": [],
    }
    return RunResult(
        run_id=run_id,
        name=name,
        command=("python", "train.py"),
        started_at="2024-05-01T12:00:00.000+00:00",
        window_ns=(T0_NS, T0_NS + s),
        exit_code=0,
        status="completed",
        components=components,
        phases=phases,
        unattributed_j={c.id: c.energy_j * 0.2 for c in components},
        sensors=(Availability("powercap", True, "readable"),),
        warnings=("a note about the run",),
        host={"hostname": "box", "python": "3.11.7", "jouleflow": "0.1.0"},
        sample_interval_s=0.1,
        samples=1001,
        layers=breakdown if layers else None,
        counts={"samples": 6400, "tokens": 819_200} if extras else {},
        forecast={
            "units_done": 2,
            "units_total": 3,
            "unit": "epoch",
            "confidence": 0.9,
            "energy_so_far_j": 20_000.0,
            "predicted_total_energy_j": 33_000.0,
            "energy_interval_j": [31_000.0, 35_000.0],
            "predicted_total_duration_s": 95.0,
            "duration_interval_s": [90.0, 100.0],
            "method": "mean of the epochs after warm-up",
        }
        if extras
        else None,
        carbon=carbon if extras else None,
    )


def build_samples(
    result: RunResult, every_s: float = 0.1
) -> tuple[tuple[str, ...], list[tuple[int, tuple[float, ...]]]]:
    """Cumulative µJ per domain at each sample, at each component's constant average power."""
    ids = tuple(c.id for c in result.components)
    powers = [c.energy_j / result.duration_s for c in result.components]
    n = round(result.duration_s / every_s)
    t0 = result.window_ns[0]
    samples = [
        (t0 + int(k * every_s * 1e9), tuple(w * k * every_s * 1e6 for w in powers))
        for k in range(n + 1)
    ]
    return ids, samples


@pytest.fixture
def make_result() -> Callable[..., RunResult]:
    return build_result


@pytest.fixture
def make_samples() -> Callable[..., tuple[tuple[str, ...], list[tuple[int, tuple[float, ...]]]]]:
    return build_samples
