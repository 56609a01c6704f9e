import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build_tables.py"
SHIPPED = REPO / "src" / "jouleflow" / "data"
COLUMNS = ["model", "tdp_w", "unit", "year", "source_id", "licence"]

# The raw file's quirks, as found in codecarbon 3.3.2's cpu_power.csv.
RAW_CPU_TDP = (
    "Name,TDP\n"
    "Intel Xeon Gold 6248,150.0\n"
    "AMD EPYC 7763,280.0\n"
    "Intel Core i7-2720QM,45.0\n"
    "Intel Core\xa0i7-2720QM,45\n"  # the same model with a non-breaking space
    "Intel Atom E625CT,3\n"
    "Intel Atom\xa0E625CT,2.7\n"  # the same model, another TDP
    "AMD Ryzen 9 6900HS\u200b,45.0\n"  # zero-width space
    "AMD Athlon  Silver 3050C,15.0\n"
    "Intel Celeron 1000A,27.29.5\n"  # a range that lost its separator
    "Intel Quark Microcontroller D1000,0.0\n"
    '"Intel EP80579 Integrated, 1066 MHz",18.0\n'
    "1075T,95\n"
)


@pytest.fixture
def build_tables(monkeypatch):
    spec = importlib.util.spec_from_file_location("build_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_tables", module)
    spec.loader.exec_module(module)
    return module


def raw_source(tmp_path):
    source = tmp_path / "source"
    (source / "hardware").mkdir(parents=True)
    (source / "hardware" / "cpu_tdp.csv").write_text(RAW_CPU_TDP, encoding="utf-8")
    return source


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_cpu_tdp_is_cleaned_sorted_and_deduplicated(tmp_path, build_tables):
    build_tables.build(raw_source(tmp_path), tmp_path / "out")
    header, *rows = read_rows(tmp_path / "out" / "cpu_tdp.csv")
    assert header == COLUMNS
    tdp = {r[0]: r[1] for r in rows}
    assert list(tdp) == [
        "1075T",
        "AMD Athlon Silver 3050C",
        "AMD EPYC 7763",
        "AMD Ryzen 9 6900HS",
        "Intel Atom E625CT",
        "Intel Core i7-2720QM",
        "Intel EP80579 Integrated, 1066 MHz",
        "Intel Xeon Gold 6248",
    ]
    assert tdp["Intel Core i7-2720QM"] == "45"  # duplicates agree: kept once
    assert tdp["Intel Atom E625CT"] == "3"  # duplicates disagree: the larger
    assert tdp["Intel Xeon Gold 6248"] == "150"
    assert "Intel Celeron 1000A" not in tdp and "Intel Quark Microcontroller D1000" not in tdp


def test_every_row_keeps_its_provenance_columns(tmp_path, build_tables):
    build_tables.build(raw_source(tmp_path), tmp_path / "out")
    for row in read_rows(tmp_path / "out" / "cpu_tdp.csv")[1:]:
        model, tdp_w, unit, year, source_id, licence = row
        assert model and float(tdp_w) > 0 and unit == "W" and year == ""
        assert source_id == "codecarbon-3.3.2-cpu_power"
        assert licence == "MIT (compilation); facts from vendor sheets"


def test_provenance_names_source_publishers_licence_command_and_changes(tmp_path, build_tables):
    build_tables.build(raw_source(tmp_path), tmp_path / "out")
    text = (tmp_path / "out" / "PROVENANCE.md").read_text(encoding="utf-8")
    for needle in [
        "## cpu_tdp.csv",
        "codecarbon 3.3.2",
        "Intel ARK",
        "AMD",
        "MIT",
        "Copyright (c) 2019 Mila",
        "python scripts/build_tables.py",
        "sha256",
        "| Intel Celeron 1000A | `27.29.5` |",
        "| Intel Atom E625CT | `2.7`, `3` | `3` |",
    ]:
        assert needle in text, needle
    assert str(tmp_path) not in text  # no machine-specific paths


def test_the_build_is_deterministic(tmp_path):
    source = raw_source(tmp_path)
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(source), "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {"cpu_tdp.csv", "PROVENANCE.md"}


def test_a_missing_source_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "absent"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "cpu_tdp.csv not found" in done.stderr
    assert not (tmp_path / "out").exists()


def test_shipped_tables_are_what_the_script_builds(tmp_path, build_tables):
    source = build_tables.DEFAULT_SOURCE
    if not (source / "hardware" / "cpu_tdp.csv").is_file():
        pytest.skip(f"raw source data not present at {source}")
    build_tables.build(source, tmp_path / "out")
    for name in ("cpu_tdp.csv", "PROVENANCE.md"):
        assert (tmp_path / "out" / name).read_bytes() == (SHIPPED / name).read_bytes(), name
