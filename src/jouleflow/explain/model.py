"""Decompose a measured run, per phase and per layer, into arithmetic, data movement and static.

    explanation = explain(result)                  # a RunResult from track(), a store, a file
    explanation.run.unexplained_j                  # measured - (arithmetic + data + static)

For each part of the run:

- arithmetic = FLOPs × energy per FLOP at the run's precision;
- data movement = bytes between DRAM/HBM and the chip × energy per byte;
- static = the device's idle power × the time;
- unexplained = measured − the three: what the model does not cover (elementwise work that is
  not counted, cache and register traffic, host overhead, power management, sensor error);
- achieved J/FLOP = measured / FLOPs, beside the best case (TDP / peak);
- compute- or memory-bound: arithmetic intensity (FLOP/byte) against the ridge point
  (peak FLOP/s / bandwidth) of the roofline.

FLOPs and bytes come from the layers ``jouleflow.torch.watch(..., layers=True)`` recorded: each
layer's counted forward (``flops`` = 3 × forward) and its bytes, for one step, times the number
of forward and backward passes (the counts of the ``forward`` and ``backward`` phases). Backward
is 2 × forward in FLOPs, and in bytes (an estimate). Phases with no counted work (data, other,
optimizer) get static power only: their arithmetic and data movement are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jouleflow.explain.records import Work
from jouleflow.explain.tables import Costs, Tables, costs_for, device_for, load_tables
from jouleflow.records import ComponentKind, RunResult

if TYPE_CHECKING:
    from jouleflow.explain.calibrate import Calibration

GPU_KINDS = frozenset({ComponentKind.GPU})
CPU_KINDS = frozenset(
    {
        ComponentKind.CPU_PACKAGE,
        ComponentKind.DRAM,
        ComponentKind.PSYS,
        ComponentKind.CPU_ESTIMATE,
        ComponentKind.MEMORY_ESTIMATE,
    }
)
BACKWARD_BYTES_FACTOR = 2.0  # backward reads activations and weights, writes gradients
OUTER_SELF_SHARE = 0.5  # a phase whose self energy is below this share of its own contains others


@dataclass(frozen=True, slots=True)
class Part:
    """One row of an explanation: a phase, a layer, or the whole run."""

    name: str
    duration_s: float
    measured_j: float
    static_j: float
    work: Work | None  # None: not counted
    arithmetic_j: float | None
    data_j: float | None
    type: str = ""  # a layer's module type
    bound: str | None = None  # "compute" | "memory" (layers and the run)
    note: str = ""

    @property
    def modelled_j(self) -> float:
        return self.static_j + (self.arithmetic_j or 0.0) + (self.data_j or 0.0)

    @property
    def unexplained_j(self) -> float:
        return self.measured_j - self.modelled_j

    @property
    def achieved_j_per_flop(self) -> float | None:
        if self.work is None or self.work.flops <= 0:
            return None
        return self.measured_j / self.work.flops

    @property
    def achieved_flop_per_s(self) -> float | None:
        if self.work is None or self.duration_s <= 0:
            return None
        return self.work.flops / self.duration_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type or None,
            "duration_s": self.duration_s,
            "measured_j": self.measured_j,
            "arithmetic_j": self.arithmetic_j,
            "data_movement_j": self.data_j,
            "static_j": self.static_j,
            "modelled_j": self.modelled_j,
            "unexplained_j": self.unexplained_j,
            "flops": self.work.flops if self.work else None,
            "bytes": self.work.bytes if self.work else None,
            "arithmetic_intensity": self.work.intensity if self.work else None,
            "bound": self.bound,
            "achieved_j_per_flop": self.achieved_j_per_flop,
            "achieved_flop_per_s": self.achieved_flop_per_s,
            "note": self.note or None,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    run_id: str
    run_name: str | None
    costs: Costs
    device_reason: str
    measured_how: str  # "measured (powercap energy counter)" or "estimated (...)": the source
    measured_is_estimate: bool
    components: tuple[str, ...]  # the run's components charged to the device
    rest_j: float  # the run's other components (not modelled)
    run: Part
    phases: tuple[Part, ...]
    layers: tuple[Part, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    tables_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "tables_version": self.tables_version,
            "device_reason": self.device_reason,
            "costs": self.costs.to_dict(),
            "measured": {
                "how": self.measured_how,
                "is_estimate": self.measured_is_estimate,
                "components": list(self.components),
                "rest_of_machine_j": self.rest_j,
            },
            "run": self.run.to_dict(),
            "phases": [p.to_dict() for p in self.phases],
            "layers": [p.to_dict() for p in self.layers],
            "notes": list(self.notes),
        }


def explain(
    result: RunResult,
    *,
    hardware: str | None = None,
    precision: str | None = None,
    calibration: Calibration | None = None,
    calibrations: Mapping[str, Calibration] | None = None,
    tables: Tables | None = None,
) -> Explanation:
    """Explain ``result`` on ``hardware`` (default: what the run recorded) at ``precision``.

    ``calibration`` (see :mod:`jouleflow.explain.calibrate`), or the one for the device among
    ``calibrations`` (by device key), replaces the table's costs when it is for that device.
    """
    tables = tables or load_tables()
    notes: list[str] = []
    logical = int(result.host.get("cpu_count", "0") or 0)
    if hardware is not None:
        device = tables.device(hardware).scaled_to(logical)
        reason = f"--hardware {hardware}"
    else:
        gpus = tuple(c.name or c.label for c in result.components if c.kind is ComponentKind.GPU)
        device, reason = device_for(
            gpu_names=gpus,
            cpu_model=result.host.get("cpu_model"),
            logical_cpus=logical,
            tables=tables,
        )
    if precision is None:
        precision = "fp32"
        notes.append("precision assumed fp32 (the run does not record it): pass --precision")
    if calibration is None and calibrations is not None:
        calibration = calibrations.get(device.key)
    costs = costs_for(device, precision, calibration, tables=tables)
    notes.extend(costs.notes)
    kinds = GPU_KINDS if device.kind == "gpu" else CPU_KINDS
    ids = frozenset(c.id for c in result.components if c.in_total and c.kind in kinds)
    if not ids:
        ids = result.total_ids
        notes.append(f"no component of the run is the {device.kind}: the whole machine is used")
    charged = [c for c in result.components if c.id in ids]
    sensed = sorted({f"measured ({c.source} {c.method.value})" for c in charged if c.measured})
    estimated = [c for c in charged if not c.measured]
    how = "; ".join(sensed + sorted({f"estimated ({c.source})" for c in estimated}))
    if estimated and not sensed:
        notes.append(
            "the 'measured' energy is itself an estimate here: no sensor measured the "
            f"{device.kind} in this run (`jouleflow doctor` says why)"
        )
    elif estimated:
        share = sum(c.energy_j for c in estimated) / max(sum(c.energy_j for c in charged), 1e-30)
        notes.append(
            f"{share:.0%} of the 'measured' energy is estimated: "
            + ", ".join(f"{c.label} ({c.source})" for c in estimated)
        )
    measured_j = sum(c.energy_j for c in charged)
    rest_j = result.total_j - measured_j

    steps = _Steps.of(result)
    layers = result.layers.layers if result.layers is not None else ()
    counted = [layer for layer in layers if layer.flops is not None]
    step = Work(
        sum(float(layer.flops or 0) for layer in counted) / 3,
        sum(float(layer.bytes_moved or 0) for layer in counted),
    )
    if not counted:
        notes.append(
            "the run has no layers with FLOP counts (jouleflow.torch.watch(..., layers=True) "
            "records them): only static power is modelled"
        )
    else:
        notes.append(
            "bytes are a lower bound (parameters, inputs and outputs of each layer, no cache "
            "effects); backward bytes are taken as 2 × forward (an estimate)"
        )
        notes.append(
            "a layer's measured energy is its share of forward + backward by its share of the "
            "forward time (the run's layers.method), not a measurement of the layer alone"
        )

    def part(name: str, duration_s: float, energy_j: float, work: Work | None, **kw: Any) -> Part:
        arithmetic = work.flops * costs.j_per_flop.value if work is not None else None
        data = work.bytes * costs.j_per_byte.value if work is not None else None
        return Part(
            name,
            duration_s,
            energy_j,
            costs.idle_w.value * duration_s,
            work,
            arithmetic,
            data,
            **kw,
        )

    total_work = steps.work(step) if counted else None
    run = part(
        "whole run",
        result.duration_s,
        measured_j,
        total_work,
        bound=_bound(step, costs) if counted else None,
    )
    phases = []
    for phase in result.phases:
        energy_j = phase.self_total_j(ids)
        if energy_j < OUTER_SELF_SHARE * phase.total_j(ids):
            notes.append(f"phase {phase.name!r} contains other phases: not decomposed")
            continue
        work = steps.phase_work(phase.name, step) if counted else None
        phases.append(part(phase.name, phase.duration_s, energy_j, work))
    return Explanation(
        run_id=result.run_id,
        run_name=result.name,
        costs=costs,
        device_reason=reason,
        measured_how=how,
        measured_is_estimate=bool(estimated) and not sensed,
        components=tuple(sorted(ids)),
        rest_j=rest_j,
        run=run,
        phases=tuple(phases),
        layers=tuple(_layers(result, ids, steps, costs, part)),
        notes=tuple(notes),
        tables_version=tables.version,
    )


@dataclass(frozen=True, slots=True)
class _Steps:
    """How many forward and backward passes the run made, and their phases' times."""

    forward: int
    backward: int
    flop_count: int
    forward_s: float
    backward_s: float

    @classmethod
    def of(cls, result: RunResult) -> _Steps:
        found = {p.name: p for p in result.phases}
        fwd, bwd, fc = found.get("forward"), found.get("backward"), found.get("flop-count")
        return cls(
            fwd.count if fwd else 0,
            bwd.count if bwd else 0,
            fc.count if fc else 0,
            fwd.duration_s if fwd else 0.0,
            bwd.duration_s if bwd else 0.0,
        )

    def phase_work(self, name: str, step: Work) -> Work | None:
        if name == "forward":
            return Work(step.flops * self.forward, step.bytes * self.forward)
        if name == "backward":
            return Work(
                2 * step.flops * self.backward, BACKWARD_BYTES_FACTOR * step.bytes * self.backward
            )
        if name == "flop-count":
            return Work(step.flops * self.flop_count, step.bytes * self.flop_count)
        return None

    def work(self, step: Work) -> Work:
        total = Work(0.0, 0.0)
        for name in ("forward", "backward", "flop-count"):
            total = total + (self.phase_work(name, step) or Work(0.0, 0.0))
        return total


def _bound(step: Work, costs: Costs) -> str | None:
    intensity = step.intensity
    if intensity is None:
        return "compute" if step.flops > 0 else None
    return "compute" if intensity >= costs.ridge_flop_per_byte else "memory"


def _layers(
    result: RunResult, ids: frozenset[str], steps: _Steps, costs: Costs, part: Any
) -> list[Part]:
    """Each layer's share of forward + backward, on the device's components only."""
    if result.layers is None:
        return []
    found = {p.name: p for p in result.phases}
    fb = [found[n] for n in ("forward", "backward") if n in found]
    all_j = sum(p.self_total_j(result.total_ids) for p in fb)
    device_share = sum(p.self_total_j(ids) for p in fb) / all_j if all_j > 0 else 1.0
    time_s = steps.forward_s + steps.backward_s
    rows = []
    for layer in result.layers.layers:
        work = None
        bound = None
        if layer.flops is not None:
            per_step = Work(float(layer.flops) / 3, float(layer.bytes_moved or 0))
            work = Work(
                per_step.flops * (steps.forward + 2 * steps.backward),
                per_step.bytes * (steps.forward + BACKWARD_BYTES_FACTOR * steps.backward),
            )
            bound = _bound(per_step, costs)
        rows.append(
            part(
                layer.name,
                layer.time_share * time_s,
                layer.energy_j * device_share,
                work,
                type=layer.type,
                bound=bound,
            )
        )
    return rows
