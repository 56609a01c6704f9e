"""Bring the phases a measured program found itself into the parent's measurement.

``jouleflow run`` measures a whole command; a ``track()`` inside the command knows its phases and
layers (and read the same counters at its phase edges). The parent keeps its own totals and takes
the child's phases; its ``unattributed`` becomes whatever no child phase accounts for, so the
books still balance per component.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from jouleflow.attribution.phases import MAX_WINDOWS_KEPT
from jouleflow.records import LayerBreakdown, PhaseEnergy, RunResult, phase_from_dict


def _add(a: PhaseEnergy, b: PhaseEnergy) -> PhaseEnergy:
    return PhaseEnergy(
        name=a.name,
        count=a.count + b.count,
        duration_s=a.duration_s + b.duration_s,
        energy_j={k: a.energy_j.get(k, 0.0) + b.energy_j.get(k, 0.0) for k in a.energy_j},
        self_energy_j={
            k: a.self_energy_j.get(k, 0.0) + b.self_energy_j.get(k, 0.0) for k in a.self_energy_j
        },
        windows_ns=(a.windows_ns + b.windows_ns)[:MAX_WINDOWS_KEPT],
        truncated=a.truncated + b.truncated,
    )


def merge_child_results(parent: RunResult, documents: Sequence[dict[str, Any]]) -> RunResult:
    """``parent`` with the phases, layers and counts of the runs its command reported."""
    if not documents:
        return parent
    ids = [c.id for c in parent.components]
    phases: dict[str, PhaseEnergy] = {}
    for document in documents:
        for data in document.get("phases", []):
            phase = phase_from_dict(data)
            phase = dataclasses.replace(
                phase,
                energy_j={k: phase.energy_j.get(k, 0.0) for k in ids},
                self_energy_j={k: phase.self_energy_j.get(k, 0.0) for k in ids},
            )
            phases[phase.name] = _add(phases[phase.name], phase) if phase.name in phases else phase
    unattributed = {
        c.id: c.energy_j - sum(p.self_energy_j[c.id] for p in phases.values())
        for c in parent.components
    }
    layered = [d for d in documents if d.get("layers")]
    layers = LayerBreakdown.from_dict(layered[-1]["layers"]) if layered else parent.layers
    counts = dict(parent.counts)
    for document in documents:
        for unit, n in document.get("counts", {}).items():
            counts[unit] = counts.get(unit, 0) + int(n)
    note = (
        f"phases come from {len(documents)} run(s) the command tracked itself "
        f"({', '.join(d['run_id'][:8] for d in documents)}), measured on the same sensors"
    )
    return dataclasses.replace(
        parent,
        phases=tuple(phases.values()),
        unattributed_j=unattributed,
        layers=layers,
        counts=counts,
        warnings=(*parent.warnings, note),
    )
