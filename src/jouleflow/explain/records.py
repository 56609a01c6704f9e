"""The frozen records of ``jouleflow.explain``: a figure with its label and source, work done.

Every number that explain, estimate and calibrate print is a :class:`Figure`: a value in SI
units (J/FLOP, J/byte, W, FLOP/s, byte/s), an optional range, and where it came from. Labels:

- ``measured``: read from this machine's sensors (a jouleflow run);
- ``calibrated``: fitted by ``jouleflow calibrate`` from measurements on this machine;
- ``measured-in-silicon``: a circuit measurement (Horowitz, ISSCC 2014, 45 nm);
- ``datasheet-bound``: a vendor's peak or maximum, or a figure computed only from them;
- ``estimate``: a typical value, a literature range, or a figure derived by a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MEASURED = "measured"
CALIBRATED = "calibrated"
MEASURED_IN_SILICON = "measured-in-silicon"
DATASHEET_BOUND = "datasheet-bound"
ESTIMATE = "estimate"
LABELS = (MEASURED, CALIBRATED, MEASURED_IN_SILICON, DATASHEET_BOUND, ESTIMATE)


@dataclass(frozen=True, slots=True)
class Figure:
    """One number with its unit, range, label and source."""

    value: float
    unit: str  # SI: "J/FLOP", "J/byte", "W", "FLOP/s", "byte/s"
    label: str  # one of LABELS
    source: str  # a source id of the tables (sources.csv), or words
    low: float | None = None
    high: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}: one of {', '.join(LABELS)}")

    @property
    def provenance(self) -> str:
        """``estimate · jouleflow-estimate``: what to print beside the number."""
        return f"{self.label} · {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "label": self.label,
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Work:
    """Arithmetic and off-chip traffic: FLOPs and bytes between DRAM/HBM and the chip."""

    flops: float
    bytes: float

    def __add__(self, other: Work) -> Work:
        return Work(self.flops + other.flops, self.bytes + other.bytes)

    @property
    def intensity(self) -> float | None:
        """Arithmetic intensity, FLOP per byte (None when no byte is moved)."""
        return self.flops / self.bytes if self.bytes > 0 else None


@dataclass(frozen=True, slots=True)
class Interval:
    """A central value and the range it may lie in."""

    low: float
    central: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "central": self.central, "high": self.high}
