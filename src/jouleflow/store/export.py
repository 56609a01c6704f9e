"""Stored runs as tables: JSON, CSV, Parquet, and CodeCarbon's ``emissions.csv`` layout.

Carbon is not measured yet (issue 4): every carbon figure is empty. :func:`carbon_fields` is the
one place where it will be filled in; every export and listing reads carbon through it.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from jouleflow.errors import ConfigError
from jouleflow.records import ComponentKind, RunResult
from jouleflow.units import J_PER_KWH

Row = dict[str, Any]

# The columns of CodeCarbon's emissions.csv (CodeCarbon 2.x EmissionsData, in its order).
CODECARBON_COLUMNS = (
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "on_cloud",
    "pue",
)
CARBON_COLUMNS = (
    "emissions",
    "emissions_rate",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "longitude",
    "latitude",
)
SUMMARY_COLUMNS = (
    "run_id",
    "name",
    "status",
    "exit_code",
    "started_at",
    "duration_s",
    "total_j",
    "total_uncertainty_j",
    "measured_j",
    "estimated_j",
    "average_power_w",
    "carbon_g",
    "hostname",
    "command",
    "tags",
)
_CPU = {ComponentKind.CPU_PACKAGE, ComponentKind.CPU_ESTIMATE, ComponentKind.PSYS}
_RAM = {ComponentKind.DRAM, ComponentKind.MEMORY_ESTIMATE}
_GPU = {ComponentKind.GPU}


def carbon_fields(result: RunResult) -> Row:
    """CARBON HOOK (issue 4): the run's carbon figures, by CodeCarbon column name.

    Returns ``{}`` until the carbon layer exists: every carbon column stays empty. When it does,
    return ``emissions`` (kg CO2e), ``emissions_rate`` (kg/s), the place (``country_name``,
    ``country_iso_code``, ``region``, ``cloud_provider``, ``cloud_region``, ``longitude``,
    ``latitude``) and ``carbon_g`` (g CO2e, for jouleflow's own tables).
    """
    return {}


def summary_rows(results: Sequence[RunResult]) -> tuple[list[str], list[Row]]:
    """One row per run: the totals, then one ``<component id>_j`` column per component."""
    component_ids: list[str] = []
    for result in results:
        for c in result.components:
            if c.id not in component_ids:
                component_ids.append(c.id)
    rows = []
    for result in results:
        row: Row = {
            "run_id": result.run_id,
            "name": result.name,
            "status": result.status,
            "exit_code": result.exit_code,
            "started_at": result.started_at,
            "duration_s": result.duration_s,
            "total_j": result.total_j,
            "total_uncertainty_j": result.total_uncertainty_j,
            "measured_j": result.measured_j,
            "estimated_j": result.estimated_j,
            "average_power_w": result.average_power_w,
            "carbon_g": carbon_fields(result).get("carbon_g"),
            "hostname": result.host.get("hostname"),
            "command": " ".join(result.command) if result.command is not None else None,
            "tags": ";".join(f"{k}={v}" for k, v in result.tags.items()),
        }
        energies = {c.id: c.energy_j for c in result.components}
        for cid in component_ids:
            row[f"{cid}_j"] = energies.get(cid)
        rows.append(row)
    return [*SUMMARY_COLUMNS, *(f"{cid}_j" for cid in component_ids)], rows


def sample_rows(
    run_id: str,
    start_ns: int,
    domains: Sequence[str],
    samples: Sequence[tuple[int, Sequence[float]]],
) -> list[Row]:
    """One row per stored sample: seconds since the start, cumulative J per component."""
    return [
        {
            "run_id": run_id,
            "t_s": (t_ns - start_ns) / 1e9,
            **{f"{d}_j": v / 1e6 for d, v in zip(domains, cum)},
        }
        for t_ns, cum in samples
    ]


def codecarbon_rows(results: Sequence[RunResult]) -> list[Row]:
    """One row per run in CodeCarbon's emissions.csv layout (energy in kWh, power in W)."""
    return [_codecarbon_row(result) for result in results]


def _codecarbon_row(result: RunResult) -> Row:
    duration_s = result.duration_s

    def energy_kwh(kinds: set[ComponentKind]) -> float:
        joules = sum(c.energy_j for c in result.components if c.in_total and c.kind in kinds)
        return joules / J_PER_KWH

    def power_w(kinds: set[ComponentKind]) -> float:
        return energy_kwh(kinds) * J_PER_KWH / duration_s if duration_s > 0 else 0.0

    gpus = [c for c in result.components if c.kind is ComponentKind.GPU]
    models: dict[str, int] = {}
    for gpu in gpus:
        label = gpu.name or gpu.label
        models[label] = models.get(label, 0) + 1
    row: Row = dict.fromkeys(CODECARBON_COLUMNS)
    row.update(
        timestamp=_end_time(result),
        project_name=result.name or "jouleflow",
        run_id=str(uuid.UUID(hex=result.run_id)) if _is_uuid(result.run_id) else result.run_id,
        experiment_id=result.tags.get("experiment_id"),
        duration=duration_s,
        cpu_power=power_w(_CPU),
        gpu_power=power_w(_GPU),
        ram_power=power_w(_RAM),
        cpu_energy=energy_kwh(_CPU),
        gpu_energy=energy_kwh(_GPU),
        ram_energy=energy_kwh(_RAM),
        energy_consumed=result.total_j / J_PER_KWH,
        os=result.host.get("platform"),
        python_version=result.host.get("python"),
        cpu_count=result.host.get("cpu_count"),
        cpu_model=result.host.get("cpu_model"),
        gpu_count=len(gpus),
        gpu_model=", ".join(f"{n} x {name}" for name, n in models.items()) or None,
        tracking_mode="machine",
        pue=1.0,
    )
    carbon = carbon_fields(result)
    row.update({k: v for k, v in carbon.items() if k in CARBON_COLUMNS})
    return row


def _end_time(result: RunResult) -> str | None:
    try:
        started = datetime.fromisoformat(result.started_at)
    except ValueError:
        return None
    ended = started + timedelta(seconds=result.duration_s)
    return ended.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(hex=text)
    except ValueError:
        return False
    return True


# -- writers ------------------------------------------------------------------------------------
def write_csv(columns: Sequence[str], rows: Sequence[Row], stream: IO[str]) -> None:
    writer = csv.DictWriter(stream, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def write_json(document: Any, stream: IO[str]) -> None:
    stream.write(json.dumps(document, indent=2) + "\n")


def write_parquet(columns: Sequence[str], rows: Sequence[Row], path: Path) -> None:
    """Write a Parquet file; needs pyarrow (the ``parquet`` extra)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ConfigError(
            "parquet export needs pyarrow, which is not installed",
            fix="pip install 'jouleflow[parquet]' (or use --format csv / json)",
        ) from err
    table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows])
    pq.write_table(table, str(path))
