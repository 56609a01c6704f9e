"""Frozen, typed records that the layers exchange (sensors -> sampling -> results).

Every figure keeps its unit in its name and says where it came from (``method``, ``source``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jouleflow.domains import Availability, ComponentKind, Domain, Method, ReadingKind
from jouleflow.units import J_PER_KWH

__all__ = [  # the first five live in jouleflow.domains, light enough for a run's start
    "Availability",
    "ComponentEnergy",
    "ComponentKind",
    "Domain",
    "LayerBreakdown",
    "LayerEnergy",
    "Method",
    "PhaseEnergy",
    "ReadingKind",
    "RunResult",
    "phase_from_dict",
]


@dataclass(frozen=True, slots=True)
class ComponentEnergy:
    """Energy of one domain over one window."""

    id: str
    kind: ComponentKind
    energy_j: float
    method: Method
    source: str
    uncertainty_j: float
    label: str
    in_total: bool = True
    model: str | None = None
    parent: str | None = None
    index: int | None = None
    uuid: str | None = None
    name: str | None = None

    @property
    def measured(self) -> bool:
        return self.method is not Method.ESTIMATE


@dataclass(frozen=True, slots=True)
class PhaseEnergy:
    """Energy of one named phase, summed over all its occurrences, per component id.

    ``energy_j`` is inclusive (everything while the phase was open); ``self_energy_j`` counts each
    instant once, for the innermost (most recently started) open phase, so that the self energies
    of all phases plus the run's ``unattributed_j`` equal the total exactly.
    """

    name: str
    count: int
    duration_s: float
    energy_j: dict[str, float]
    self_energy_j: dict[str, float]
    windows_ns: tuple[tuple[int, int], ...] = ()
    truncated: int = 0

    def total_j(self, ids: frozenset[str]) -> float:
        return sum(v for k, v in self.energy_j.items() if k in ids)

    def self_total_j(self, ids: frozenset[str]) -> float:
        return sum(v for k, v in self.self_energy_j.items() if k in ids)


@dataclass(frozen=True, slots=True)
class LayerEnergy:
    """One module's share of a run's forward and backward energy (see ``layer_method``)."""

    name: str
    type: str
    calls: int
    forward_time_s: float
    time_share: float  # of the forward phase's time
    energy_j: float  # over the whole run
    flops: float | None = None  # per call, forward + backward (3 × the counted forward)
    bytes_moved: float | None = None  # per call, forward (a lower bound)

    @property
    def j_per_flop(self) -> float | None:
        """The run's energy for this layer over all its calls' FLOPs (training: fwd + bwd)."""
        if not self.flops or not self.calls:
            return None
        return self.energy_j / (self.flops * self.calls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "calls": self.calls,
            "forward_time_s": self.forward_time_s,
            "time_share": self.time_share,
            "energy_j": self.energy_j,
            "flops": self.flops,
            "bytes_moved": self.bytes_moved,
            "j_per_flop": self.j_per_flop,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerEnergy:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class LayerBreakdown:
    """Layers ranked by energy, what no listed layer accounts for, and how it was done."""

    layers: tuple[LayerEnergy, ...]
    unattributed_j: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "unattributed_j": self.unattributed_j,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerBreakdown:
        return cls(
            tuple(LayerEnergy.from_dict(x) for x in data["layers"]),
            data["unattributed_j"],
            data["method"],
        )


def phase_from_dict(data: dict[str, Any]) -> PhaseEnergy:
    """The inverse of the ``phases[]`` entries of ``RunResult.to_dict``."""
    return PhaseEnergy(
        name=data["name"],
        count=data["count"],
        duration_s=data["duration_s"],
        energy_j={k: v["energy_j"] for k, v in data["components"].items()},
        self_energy_j={k: v["self_energy_j"] for k, v in data["components"].items()},
        windows_ns=tuple((int(a), int(b)) for a, b in data.get("windows_ns", [])),
        truncated=data.get("truncated", 0),
    )


SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished (or interrupted) measurement: what ``--json`` writes and ``track()`` returns."""

    run_id: str
    name: str | None
    command: tuple[str, ...] | None
    started_at: str  # ISO 8601 UTC, a label only: arithmetic uses window_ns
    window_ns: tuple[int, int]  # CLOCK_MONOTONIC
    exit_code: int | None
    status: str  # completed | failed | interrupted
    components: tuple[ComponentEnergy, ...]
    phases: tuple[PhaseEnergy, ...]
    unattributed_j: dict[str, float]
    sensors: tuple[Availability, ...]
    warnings: tuple[str, ...]
    host: dict[str, str]
    sample_interval_s: float
    samples: int
    tags: dict[str, str] = field(default_factory=dict)
    layers: LayerBreakdown | None = None
    counts: dict[str, int] = field(default_factory=dict)  # samples, tokens... (run.count)
    forecast: dict[str, Any] | None = None  # the latest forecast of the whole run, if any
    carbon: dict[str, Any] | None = None  # jouleflow.carbon's assessment, when one was made

    @property
    def duration_s(self) -> float:
        return (self.window_ns[1] - self.window_ns[0]) / 1e9

    @property
    def total_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.components if c.in_total)

    @property
    def total_j(self) -> float:
        return sum(c.energy_j for c in self.components if c.in_total)

    @property
    def total_uncertainty_j(self) -> float:
        """Independent errors add in quadrature."""
        return float(sum(c.uncertainty_j**2 for c in self.components if c.in_total) ** 0.5)

    @property
    def measured_j(self) -> float:
        return sum(c.energy_j for c in self.components if c.in_total and c.measured)

    @property
    def estimated_j(self) -> float:
        return sum(c.energy_j for c in self.components if c.in_total and not c.measured)

    @property
    def average_power_w(self) -> float:
        return self.total_j / self.duration_s if self.duration_s > 0 else 0.0

    def wall_clock(self, t_ns: int) -> str:
        """ISO 8601 UTC of an instant on the run's CLOCK_MONOTONIC (a label, like started_at)."""
        from datetime import datetime, timedelta

        offset = timedelta(microseconds=(t_ns - self.window_ns[0]) / 1000)
        return (datetime.fromisoformat(self.started_at) + offset).isoformat(timespec="milliseconds")

    def component(self, component_id: str) -> ComponentEnergy:
        for c in self.components:
            if c.id == component_id:
                return c
        raise KeyError(component_id)

    def phase(self, name: str) -> PhaseEnergy:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def per_unit(self) -> dict[str, float]:
        """J per counted unit, and kWh per 1,000 samples.

        For an inference run that is "kWh per 1,000 inferences", the unit of Luccioni et al.
        2024 ("Power Hungry Processing") and of the AI Energy Score.
        """
        figures: dict[str, float] = {}
        for unit, count in self.counts.items():
            if count > 0:
                figures[f"j_per_{unit.removesuffix('s')}"] = self.total_j / count
        samples = self.counts.get("samples", 0)
        if samples > 0:
            figures["kwh_per_1000_samples"] = self.total_j / samples * 1000 / J_PER_KWH
        return figures

    def to_dict(self) -> dict[str, Any]:
        """The result document (docs/result-document.md), versioned by ``schema_version``."""
        ids = self.total_ids
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "name": self.name,
            "command": list(self.command) if self.command is not None else None,
            "started_at": self.started_at,
            "window_ns": list(self.window_ns),
            "duration_s": self.duration_s,
            "exit_code": self.exit_code,
            "status": self.status,
            "total_j": self.total_j,
            "total_uncertainty_j": self.total_uncertainty_j,
            "measured_j": self.measured_j,
            "estimated_j": self.estimated_j,
            "average_power_w": self.average_power_w,
            "components": [_component_dict(c) for c in self.components],
            "phases": [
                {
                    "name": p.name,
                    "count": p.count,
                    "duration_s": p.duration_s,
                    "energy_j": p.total_j(ids),
                    "self_energy_j": p.self_total_j(ids),
                    "components": {
                        cid: {"energy_j": p.energy_j[cid], "self_energy_j": p.self_energy_j[cid]}
                        for cid in p.energy_j
                    },
                    "windows_ns": [list(w) for w in p.windows_ns],
                    "started_at": self.wall_clock(p.windows_ns[0][0]) if p.windows_ns else None,
                    "truncated": p.truncated,
                }
                for p in self.phases
            ],
            "unattributed_j": {
                "total": sum(v for k, v in self.unattributed_j.items() if k in ids),
                "components": dict(self.unattributed_j),
            },
            "sensors": [
                {
                    "sensor": a.sensor,
                    "available": a.available,
                    "measured": a.measured,
                    "reason": a.reason,
                    "fix": a.fix,
                }
                for a in self.sensors
            ],
            "warnings": list(self.warnings),
            "host": dict(self.host),
            "sampling": {"interval_s": self.sample_interval_s, "samples": self.samples},
            "tags": dict(self.tags),
            "layers": self.layers.to_dict() if self.layers is not None else None,
            "counts": dict(self.counts),
            "forecast": self.forecast,
            "carbon": self.carbon,
            "per_unit": self.per_unit(),
        }


def _component_dict(c: ComponentEnergy) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": c.id,
        "kind": c.kind.value,
        "label": c.label,
        "energy_j": c.energy_j,
        "method": c.method.value,
        "source": c.source,
        "uncertainty_j": c.uncertainty_j,
        "measured": c.measured,
        "in_total": c.in_total,
        "parent": c.parent,
    }
    if c.model is not None:
        data["model"] = c.model
    if c.kind is ComponentKind.GPU:
        data.update(index=c.index, uuid=c.uuid, name=c.name)
    return data
