"""Between stored bytes and jouleflow's records: result documents and packed samples."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import Any

from jouleflow.records import (
    Availability,
    ComponentEnergy,
    ComponentKind,
    LayerBreakdown,
    Method,
    PhaseEnergy,
    RunResult,
)

_DOUBLE = "d"


def pack_cum(cum_uj: Sequence[float]) -> bytes:
    """One sample's cumulative µJ per domain as native float64s (8 bytes a domain)."""
    return array(_DOUBLE, cum_uj).tobytes()


def unpack_cum(blob: bytes) -> tuple[float, ...]:
    values = array(_DOUBLE)
    values.frombytes(blob)
    return tuple(values)


def result_from_document(doc: Mapping[str, Any], *, status: str | None = None) -> RunResult:
    """Rebuild the ``RunResult`` a result document (``RunResult.to_dict()``) was made from.

    ``status`` overrides the stored one (a ``running`` run whose process died is ``incomplete``).
    """
    components = tuple(_component(c) for c in doc.get("components", ()))
    phases = tuple(
        PhaseEnergy(
            name=p["name"],
            count=int(p["count"]),
            duration_s=float(p["duration_s"]),
            energy_j={k: float(v["energy_j"]) for k, v in p.get("components", {}).items()},
            self_energy_j={
                k: float(v["self_energy_j"]) for k, v in p.get("components", {}).items()
            },
            windows_ns=tuple((int(a), int(b)) for a, b in p.get("windows_ns", ())),
            truncated=int(p.get("truncated", 0)),
        )
        for p in doc.get("phases", ())
    )
    unattributed = doc.get("unattributed_j", {}).get("components", {})
    sensors = tuple(
        Availability(
            sensor=s["sensor"],
            available=bool(s["available"]),
            reason=s.get("reason", ""),
            fix=s.get("fix"),
            measured=bool(s.get("measured", True)),
        )
        for s in doc.get("sensors", ())
    )
    command = doc.get("command")
    window = doc.get("window_ns", (0, 0))
    sampling = doc.get("sampling", {})
    layers = doc.get("layers")
    return RunResult(
        run_id=doc["run_id"],
        name=doc.get("name"),
        command=tuple(command) if command is not None else None,
        started_at=doc.get("started_at", ""),
        window_ns=(int(window[0]), int(window[1])),
        exit_code=doc.get("exit_code"),
        status=status or doc.get("status", "completed"),
        components=components,
        phases=phases,
        unattributed_j={k: float(v) for k, v in unattributed.items()},
        sensors=sensors,
        warnings=tuple(doc.get("warnings", ())),
        host={k: str(v) for k, v in doc.get("host", {}).items()},
        sample_interval_s=float(sampling.get("interval_s", 0.0)),
        samples=int(sampling.get("samples", 0)),
        tags={k: str(v) for k, v in doc.get("tags", {}).items()},
        layers=LayerBreakdown.from_dict(layers) if layers else None,
        counts={k: int(v) for k, v in (doc.get("counts") or {}).items()},
        forecast=doc.get("forecast"),
        carbon=doc.get("carbon"),
    )


def _component(c: Mapping[str, Any]) -> ComponentEnergy:
    return ComponentEnergy(
        id=c["id"],
        kind=ComponentKind(c["kind"]),
        energy_j=float(c["energy_j"]),
        method=Method(c["method"]),
        source=c.get("source", ""),
        uncertainty_j=float(c.get("uncertainty_j", 0.0)),
        label=c.get("label", c["id"]),
        in_total=bool(c.get("in_total", True)),
        model=c.get("model"),
        parent=c.get("parent"),
        index=c.get("index"),
        uuid=c.get("uuid"),
        name=c.get("name"),
    )
