"""The shipped tables (energy per operation, devices) and the costs explain and estimate use.

    tables = load_tables()
    device = tables.device("h100")                  # or device_for(gpu_name=..., cpu_model=...)
    costs = costs_for(device, "bf16", calibration)  # J/FLOP, J/byte, idle W, peaks, each labelled

The tables are built by ``scripts/build_explain_tables.py`` (see data/PROVENANCE.md); values are
stored in readable units (pJ/FLOP, TFLOP/s, GB/s) and converted to SI here.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING

from jouleflow.errors import ConfigError
from jouleflow.explain.records import Figure

if TYPE_CHECKING:
    from jouleflow.explain.calibrate import Calibration

PRECISIONS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8")
_TO_SI = {  # table unit -> (factor, SI unit)
    "pJ": (1e-12, "J"),
    "pJ/FLOP": (1e-12, "J/FLOP"),
    "pJ/byte": (1e-12, "J/byte"),
    "TFLOP/s": (1e12, "FLOP/s"),
    "GB/s": (1e9, "byte/s"),
    "W": (1.0, "W"),
}
_DTYPES = {  # torch dtype names -> precision keys
    "float64": "fp64",
    "float32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "float8_e4m3fn": "fp8",
    "float8_e5m2": "fp8",
    "int8": "int8",
}


@dataclass(frozen=True, slots=True)
class Operation:
    """A row of operations.csv: the energy of one operation or of moving one byte."""

    key: str
    operation: str
    precision: str
    process_node: str
    year: str
    figure: Figure


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A GPU, or a CPU class, with its figures keyed by (quantity, precision)."""

    key: str
    name: str
    kind: str  # gpu | cpu
    vendor: str
    memory: str
    process_node: str
    year: str
    threads: int
    match: str
    source_id: str
    note: str
    figures: Mapping[tuple[str, str], Figure] = field(default_factory=dict)
    scale: float = 1.0  # CPUs: host logical CPUs / threads, already applied to the figures
    scale_note: str = ""

    def figure(self, quantity: str, precision: str = "") -> Figure | None:
        return self.figures.get((quantity, precision))

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(p for p in PRECISIONS if ("peak_flops", p) in self.figures)

    def scaled_to(self, logical_cpus: int) -> DeviceSpec:
        """A CPU class scaled to a host with ``logical_cpus``: peak, bandwidth, TDP, idle."""
        if self.kind != "cpu" or self.threads <= 0 or logical_cpus <= 0:
            return self
        scale = logical_cpus / self.threads
        scaled = {
            key: _times(fig, scale) if key[0] in _SCALED else fig
            for key, fig in self.figures.items()
        }
        note = f"scaled by {logical_cpus} logical CPUs / {self.threads} of the class"
        return replace(self, figures=MappingProxyType(scaled), scale=scale, scale_note=note)


_SCALED = {"peak_flops", "memory_bandwidth", "tdp", "idle_power"}


def _times(fig: Figure, k: float) -> Figure:
    return replace(
        fig,
        value=fig.value * k,
        low=fig.low * k if fig.low is not None else None,
        high=fig.high * k if fig.high is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Tables:
    operations: Mapping[str, Operation]
    devices: Mapping[str, DeviceSpec]
    sources: Mapping[str, dict[str, str]]
    version: str

    def device(self, key: str) -> DeviceSpec:
        """A device by key (``h100``) or by a name it matches (``NVIDIA H100 80GB HBM3``)."""
        wanted = key.strip().lower()
        if wanted in self.devices:
            return self.devices[wanted]
        for spec in self.devices.values():
            if spec.key != "cpu-generic" and re.search(spec.match, key, re.IGNORECASE):
                return spec
        raise ConfigError(
            f"unknown hardware {key!r}",
            fix=f"use one of: {', '.join(sorted(self.devices))}",
        )

    def alu_j_per_flop(self, precision: str) -> Operation | None:
        """Horowitz's 45 nm energy of one FLOP in the ALU alone, at ``precision`` if known."""
        return self.operations.get(f"{'fp32' if precision == 'tf32' else precision}-flop-alu")


def _figure(row: Mapping[str, str]) -> Figure:
    factor, unit = _TO_SI[row["unit"]]
    low, high = row.get("low", ""), row.get("high", "")
    return Figure(
        value=float(row["value"]) * factor,
        unit=unit,
        label=row["label"],
        source=row["source_id"],
        low=float(low) * factor if low else None,
        high=float(high) * factor if high else None,
        note=row.get("note", ""),
    )


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("jouleflow.explain") / "data" / name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.lru_cache(maxsize=1)
def load_tables() -> Tables:
    """The shipped tables (read once)."""
    operations = {
        r["key"]: Operation(
            r["key"], r["operation"], r["precision"], r["process_node"], r["year"], _figure(r)
        )
        for r in _rows("operations.csv")
    }
    figures: dict[str, dict[tuple[str, str], Figure]] = {}
    for r in _rows("device_figures.csv"):
        figures.setdefault(r["device"], {})[(r["quantity"], r["precision"])] = _figure(r)
    devices = {
        r["key"]: DeviceSpec(
            key=r["key"],
            name=r["name"],
            kind=r["kind"],
            vendor=r["vendor"],
            memory=r["memory"],
            process_node=r["process_node"],
            year=r["year"],
            threads=int(r["threads"]),
            match=r["match"],
            source_id=r["source_id"],
            note=r["note"],
            figures=MappingProxyType(figures.get(r["key"], {})),
        )
        for r in _rows("devices.csv")
    }
    sources = {r["source_id"]: dict(r) for r in _rows("sources.csv")}
    manifest = json.loads(
        (resources.files("jouleflow.explain") / "data" / "manifest.json").read_text("utf-8")
    )
    return Tables(
        MappingProxyType(operations),
        MappingProxyType(devices),
        MappingProxyType(sources),
        str(manifest["tables_version"]),
    )


def device_for(
    *,
    gpu_names: tuple[str, ...] = (),
    cpu_model: str | None = None,
    logical_cpus: int = 0,
    tables: Tables | None = None,
) -> tuple[DeviceSpec, str]:
    """The device a run computed on, and why it was chosen, from what the run recorded.

    The first GPU the table knows wins; without one, the CPU class whose pattern matches the
    model name, else the generic CPU. CPU figures are scaled to the host's logical CPUs.
    """
    tables = tables or load_tables()
    for name in gpu_names:
        for spec in tables.devices.values():
            if spec.kind == "gpu" and re.search(spec.match, name, re.IGNORECASE):
                return spec, f"GPU {name!r} is in the device table as {spec.key}"
    if gpu_names:
        reason = f"GPU {gpu_names[0]!r} is not in the device table; explained as its host CPU"
    else:
        reason = "no GPU in the run"
    model = cpu_model or "unknown"
    classes = [s for s in tables.devices.values() if s.kind == "cpu" and s.key != "cpu-generic"]
    for spec in classes:
        if re.search(spec.match, model, re.IGNORECASE):
            return spec.scaled_to(logical_cpus), f"{reason}; CPU {model!r} is {spec.key}"
    fallback = tables.devices["cpu-generic"].scaled_to(logical_cpus)
    return fallback, f"{reason}; CPU {model!r} matches no class: the generic CPU"


def precision_of(dtype: str) -> str:
    """``torch.bfloat16`` / ``bfloat16`` / ``bf16`` -> ``bf16``."""
    name = dtype.removeprefix("torch.")
    if name in PRECISIONS:
        return name
    if name in _DTYPES:
        return _DTYPES[name]
    raise ConfigError(f"unknown precision {dtype!r}", fix=f"use one of: {', '.join(PRECISIONS)}")


@dataclass(frozen=True, slots=True)
class Costs:
    """What one FLOP, one byte and one second of idle cost on a device, each with its source."""

    device: DeviceSpec
    precision: str  # the precision the J/FLOP and the peak are for
    j_per_flop: Figure
    j_per_byte: Figure
    idle_w: Figure
    peak_flops: Figure
    bandwidth: Figure
    tdp_w: Figure
    best_j_per_flop: Figure  # TDP / peak: the whole device's energy per FLOP at its best
    alu_j_per_flop: Figure | None  # the 45 nm ALU alone (Horowitz), for the bottom of the stack
    notes: tuple[str, ...] = ()
    calibration: Calibration | None = None

    @property
    def ridge_flop_per_byte(self) -> float:
        """Arithmetic intensity above which the device is compute-bound (roofline)."""
        return self.peak_flops.value / self.bandwidth.value

    def figures(self) -> dict[str, Figure]:
        named = {
            "j_per_flop": self.j_per_flop,
            "j_per_byte": self.j_per_byte,
            "idle_w": self.idle_w,
            "peak_flops": self.peak_flops,
            "memory_bandwidth": self.bandwidth,
            "tdp_w": self.tdp_w,
            "best_j_per_flop": self.best_j_per_flop,
        }
        if self.alu_j_per_flop is not None:
            named["alu_j_per_flop_45nm"] = self.alu_j_per_flop
        return named

    def to_dict(self) -> dict[str, object]:
        return {
            "device": self.device.key,
            "device_name": self.device.name,
            "process_node": self.device.process_node,
            "scale": self.device.scale_note or None,
            "precision": self.precision,
            "ridge_flop_per_byte": self.ridge_flop_per_byte,
            "figures": {k: v.to_dict() for k, v in self.figures().items()},
            "calibrated": self.calibration is not None,
            "notes": list(self.notes),
        }


def costs_for(
    device: DeviceSpec,
    precision: str,
    calibration: Calibration | None = None,
    *,
    tables: Tables | None = None,
) -> Costs:
    """The costs of ``device`` at ``precision``: the table's, or a calibration's where given.

    A calibration replaces J/byte and idle power, and J/FLOP when it was made at this precision.
    """
    tables = tables or load_tables()
    notes: list[str] = []
    used = precision
    if ("peak_flops", precision) not in device.figures:
        used = "fp32"
        notes.append(
            f"{device.key} has no {precision} figures in the table; fp32's are used "
            f"(known: {', '.join(device.precisions)})"
        )

    def need(quantity: str, prec: str = "") -> Figure:
        fig = device.figure(quantity, prec)
        if fig is None:
            raise ConfigError(f"the device table has no {quantity} for {device.key}")
        return fig

    j_per_flop, j_per_byte, idle_w = (
        need("j_per_flop", used),
        need("j_per_byte"),
        need("idle_power"),
    )
    if calibration is not None and calibration.device == device.key:
        stamp = f"jouleflow calibrate on {calibration.hostname}, {calibration.created_at}"
        j_per_byte = calibration.figure("j_per_byte", stamp)
        idle_w = calibration.figure("idle_w", stamp)
        if calibration.precision == used:
            j_per_flop = calibration.figure("j_per_flop", stamp)
        else:
            notes.append(
                f"the calibration was made at {calibration.precision}, not {used}: J/FLOP is "
                "the table's; J/byte and idle power are calibrated"
            )
    elif calibration is not None:
        calibration = None
    alu = tables.alu_j_per_flop(used)
    return Costs(
        device=device,
        precision=used,
        j_per_flop=j_per_flop,
        j_per_byte=j_per_byte,
        idle_w=idle_w,
        peak_flops=need("peak_flops", used),
        bandwidth=need("memory_bandwidth"),
        tdp_w=need("tdp"),
        best_j_per_flop=need("j_per_flop_bound", used),
        alu_j_per_flop=alu.figure if alu is not None else None,
        notes=tuple(notes),
        calibration=calibration,
    )
