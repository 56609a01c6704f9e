"""Two runs side by side: per component and per phase, B against A, in J and in % of A."""

from __future__ import annotations

from typing import Any

from jouleflow.records import RunResult


def _delta(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    if a is None or b is None:
        return None, None
    return b - a, ((b - a) / a * 100 if a else None)


def compare_results(a: RunResult, b: RunResult) -> dict[str, Any]:
    """Per component and per phase: A, B, B - A in J and in % of A."""

    def entry(name: str, ea: float | None, eb: float | None) -> dict[str, Any]:
        d_j, d_pct = _delta(ea, eb)
        return {"name": name, "a_j": ea, "b_j": eb, "delta_j": d_j, "delta_pct": d_pct}

    components = []
    ids = [c.id for c in a.components] + [
        c.id for c in b.components if c.id not in {x.id for x in a.components}
    ]
    energies_a = {c.id: c.energy_j for c in a.components}
    energies_b = {c.id: c.energy_j for c in b.components}
    labels = {c.id: c.label for c in (*b.components, *a.components)}
    for cid in ids:
        row = entry(labels[cid], energies_a.get(cid), energies_b.get(cid))
        components.append({"id": cid, **row})
    phases_a = {p.name: p.total_j(a.total_ids) for p in a.phases}
    phases_b = {p.name: p.total_j(b.total_ids) for p in b.phases}
    names = list(phases_a) + [n for n in phases_b if n not in phases_a]
    return {
        "a": a.run_id,
        "b": b.run_id,
        "duration_s": entry("duration", a.duration_s, b.duration_s),
        "total": entry("total", a.total_j, b.total_j),
        "components": components,
        "phases": [entry(n, phases_a.get(n), phases_b.get(n)) for n in names],
    }
