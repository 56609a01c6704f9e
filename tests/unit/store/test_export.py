"""Exports: jouleflow's own tables, and CodeCarbon's emissions.csv layout."""

from __future__ import annotations

import csv
import io
import sys

import pytest

from jouleflow.errors import ConfigError
from jouleflow.store import export

from .conftest import make_result

# CodeCarbon 2.x emissions.csv, column for column (codecarbon/output_methods/emissions_data.py)
CODECARBON_2X = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,"
    "gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,"
    "country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version,"
    "cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,"
    "on_cloud,pue"
)


def test_codecarbon_rows_have_its_columns_units_and_no_invented_carbon():
    result = make_result(
        seconds=10.0, tags={"experiment_id": "exp-7"}, run_id="0123456789abcdef0123456789abcdef"
    )
    stream = io.StringIO()
    export.write_csv(export.CODECARBON_COLUMNS, export.codecarbon_rows([result]), stream)
    header, _ = stream.getvalue().splitlines()
    assert header == CODECARBON_2X
    row = next(csv.DictReader(io.StringIO(stream.getvalue())))
    assert row["run_id"] == "01234567-89ab-cdef-0123-456789abcdef"
    assert row["experiment_id"] == "exp-7" and row["project_name"] == "train"
    assert row["timestamp"] == "2024-05-01T12:00:10"
    assert float(row["duration"]) == pytest.approx(10.0)
    # kWh; the core zone is part of the package and is not counted twice
    assert float(row["cpu_energy"]) == pytest.approx(400 / 3_600_000)
    assert float(row["ram_energy"]) == pytest.approx(60 / 3_600_000)
    assert float(row["gpu_energy"]) == pytest.approx(3000 / 3_600_000)
    assert float(row["energy_consumed"]) == pytest.approx(result.total_j / 3_600_000)
    assert float(row["cpu_power"]) == pytest.approx(40.0)
    assert float(row["gpu_power"]) == pytest.approx(300.0)
    assert (row["gpu_count"], row["gpu_model"]) == ("1", "1 x NVIDIA H100")
    assert row["tracking_mode"] == "machine" and row["pue"] == "1.0"
    for column in export.CARBON_COLUMNS:  # issue 4 fills these through carbon_fields()
        assert row[column] == ""


def test_summary_rows_have_one_energy_column_per_component():
    columns, rows = export.summary_rows([make_result(), make_result(name="other")])
    assert columns[: len(export.SUMMARY_COLUMNS)] == list(export.SUMMARY_COLUMNS)
    assert "rapl:package-0_j" in columns and "nvml:0_j" in columns
    assert rows[1]["name"] == "other" and rows[0]["rapl:package-0_j"] == pytest.approx(400.0)


def test_parquet_reads_back(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    columns, rows = export.summary_rows([make_result(), make_result()])
    export.write_parquet(columns, rows, tmp_path / "runs.parquet")
    table = pq.read_table(tmp_path / "runs.parquet")
    assert table.num_rows == 2 and table.column_names == columns


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # Python's way to say "not installed"
    with pytest.raises(ConfigError, match="pyarrow") as caught:
        export.write_parquet(["a"], [{"a": 1}], tmp_path / "x.parquet")
    assert "jouleflow[parquet]" in str(caught.value)
    assert not (tmp_path / "x.parquet").exists()
