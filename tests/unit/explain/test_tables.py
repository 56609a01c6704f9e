"""The shipped explain tables: every row labelled and sourced, the figures they must hold, and a
deterministic build from ../shared/data/README.md."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from jouleflow.errors import ConfigError
from jouleflow.explain import costs_for, device_for, load_tables, precision_of

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "build_explain_tables.py"
DATA = REPO / "src" / "jouleflow" / "explain" / "data"
SHARED = REPO.parent / "shared" / "data"
TABLE_LABELS = {"measured-in-silicon", "datasheet-bound", "estimate"}


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_row_has_a_label_a_known_source_and_a_value():
    sources = {r["source_id"]: r for r in rows("sources.csv")}
    for name in ("operations.csv", "device_figures.csv"):
        for row in rows(name):
            assert row["label"] in TABLE_LABELS, row
            assert row["source_id"] in sources, row
            assert float(row["value"]) >= 0
            if row["low"]:
                assert float(row["low"]) <= float(row["value"]) <= float(row["high"]), row
    for row in rows("devices.csv"):
        assert row["source_id"] in sources
    for source in sources.values():
        assert source["title"] and source["publisher"]
    datasheets = [s for s in sources if "datasheet" in s or s.startswith(("intel", "amd"))]
    assert all(sources[s]["url"].startswith("https://") for s in datasheets)


def test_horowitz_45nm_figures_are_measured_in_silicon():
    ops = load_tables().operations
    expected = {  # pJ, ISSCC 2014
        "int8-add": 0.03, "int32-add": 0.1, "int8-mult": 0.2, "int32-mult": 3.1,
        "fp16-add": 0.4, "fp32-add": 0.9, "fp16-mult": 1.1, "fp32-mult": 3.7,
        "sram-8kb-read": 10.0,
    }  # fmt: skip
    for key, pj in expected.items():
        fig = ops[key].figure
        assert fig.value == pytest.approx(pj * 1e-12)
        assert (fig.label, fig.source, ops[key].process_node) == (
            "measured-in-silicon",
            "horowitz-isscc2014",
            "45 nm",
        )
    dram = ops["dram-64bit-read"].figure
    assert (dram.low, dram.high) == (pytest.approx(1.3e-9), pytest.approx(2.6e-9))
    assert ops["fp32-flop-alu"].figure.value == pytest.approx((3.7 + 0.9) / 2 * 1e-12)
    assert ops["fp32-flop-alu"].figure.label == "estimate"  # derived, not measured itself
    hbm = ops["hbm-byte"].figure  # 3-7 pJ/bit
    assert (hbm.low, hbm.high) == (pytest.approx(24e-12), pytest.approx(56e-12))


def test_the_board_bounds_agree_with_the_shared_notes():
    tables = load_tables()
    for key, quoted in (("a100", 1.28e-12), ("h100", 0.71e-12)):
        bound = tables.devices[key].figure("j_per_flop_bound", "bf16")
        assert bound is not None and bound.label == "datasheet-bound"
        assert bound.value == pytest.approx(quoted, rel=0.005)
        assert tables.operations[f"{key}-bf16-board"].figure.value == pytest.approx(quoted)


def test_the_devices_the_issue_names_are_there_with_every_quantity():
    devices = load_tables().devices
    for key in ("a100", "h100", "h200", "l4", "rtx4090", "mi300x", "xeon-spr", "epyc-genoa"):
        spec = devices[key]
        for quantity in ("memory_bandwidth", "tdp", "idle_power", "j_per_byte"):
            assert spec.figure(quantity) is not None, (key, quantity)
        assert "fp32" in spec.precisions
        assert spec.process_node and spec.year
        for prec in spec.precisions:
            dynamic, bound = spec.figure("j_per_flop", prec), spec.figure("j_per_flop_bound", prec)
            assert dynamic is not None and bound is not None
            assert dynamic.value < bound.value == dynamic.high
    h100 = devices["h100"]
    assert h100.figure("peak_flops", "bf16").value == pytest.approx(989.5e12)
    assert h100.figure("memory_bandwidth").value == pytest.approx(3.35e12)
    assert h100.figure("tdp").value == 700
    assert h100.figure("idle_power").label == "estimate"  # no datasheet states it


@pytest.mark.parametrize(
    ("gpus", "cpu", "key"),
    [
        (("NVIDIA H100 80GB HBM3",), None, "h100"),
        (("NVIDIA A100-SXM4-40GB",), None, "a100"),
        (("NVIDIA H200",), None, "h200"),
        (("NVIDIA L4",), None, "l4"),
        (("NVIDIA GeForce RTX 4090",), None, "rtx4090"),
        (("AMD Instinct MI300X",), None, "mi300x"),
        (("NVIDIA L40S",), "Intel(R) Xeon(R) Platinum 8480+", "xeon-spr"),  # not an L4
        ((), "AMD EPYC 9654 96-Core Processor", "epyc-genoa"),
        ((), "Intel(R) Xeon(R) Processor", "cpu-generic"),
        ((), None, "cpu-generic"),
    ],
)
def test_a_run_is_matched_to_its_device(gpus, cpu, key):
    spec, reason = device_for(gpu_names=gpus, cpu_model=cpu, logical_cpus=8)
    assert spec.key == key
    assert reason


def test_cpu_classes_are_scaled_to_the_host():
    generic = load_tables().devices["cpu-generic"]
    host = generic.scaled_to(8)
    assert host.figure("tdp").value == pytest.approx(8 * generic.figure("tdp").value)
    assert host.figure("peak_flops", "fp32").value == pytest.approx(8 * 40e9)
    assert host.figure("j_per_flop", "fp32") == generic.figure("j_per_flop", "fp32")  # per FLOP
    assert "8 logical CPUs" in host.scale_note
    spr = load_tables().devices["xeon-spr"].scaled_to(56)  # half the class's 112 threads
    assert spr.figure("idle_power").value == pytest.approx(87.5 / 2)


def test_costs_fall_back_to_fp32_where_the_device_has_no_such_precision():
    costs = costs_for(load_tables().devices["epyc-genoa"], "bf16")
    assert costs.precision == "fp32"
    assert "no bf16 figures" in costs.notes[0]
    h100 = costs_for(load_tables().device("h100"), "bf16")
    assert h100.ridge_flop_per_byte == pytest.approx(989.5e12 / 3.35e12)
    assert h100.best_j_per_flop.value == pytest.approx(700 / 989.5e12)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown hardware"):
        load_tables().device("tpu-v9")
    with pytest.raises(ConfigError, match="unknown precision"):
        precision_of("fp128")
    assert precision_of("torch.bfloat16") == "bf16" and precision_of("float32") == "fp32"


@pytest.fixture
def build_script(monkeypatch):
    spec = importlib.util.spec_from_file_location("build_explain_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_explain_tables", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the repository")
def test_the_build_is_deterministic_and_gives_the_shipped_tables(tmp_path, build_script):
    assert build_script.main([str(SHARED), "--out", str(tmp_path)]) == 0
    for name in ("operations.csv", "devices.csv", "device_figures.csv", "sources.csv",
                 "manifest.json", "PROVENANCE.md"):  # fmt: skip
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
    manifest = json.loads((DATA / "manifest.json").read_text())
    assert manifest["tables_version"] == load_tables().version


def test_the_build_reads_its_figures_from_the_readme(tmp_path, build_script):
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text(
        "Energy per operation at 45 nm, 0.9 V (Horowitz, ISSCC 2014): int add 0.03 pJ (8b) / "
        "0.1 pJ (32b); int mult\n  0.2 pJ (8b) / 3.1 pJ (32b); fp add 0.4 pJ (16b) / 0.9 pJ "
        "(32b); fp mult 1.1 pJ (16b) / 4.0 pJ (32b);\n 64-bit read from an 8 KB SRAM 10 pJ; "
        "64-bit DRAM read 1.3–2.6 nJ. A100 SXM BF16 400 W / 312 TFLOP/s ≈ 1.28 pJ/FLOP; "
        "H100 SXM BF16 700 W / 989 TFLOP/s ≈ 0.71 pJ/FLOP. HBM ≈ 3–7 pJ/bit; DDR4/5 ≈ "
        "10–25 pJ/bit.\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert build_script.main([str(source), "--out", str(out)]) == 0
    with (out / "operations.csv").open(newline="") as f:
        fp32 = {r["key"]: r for r in csv.DictReader(f)}["fp32-mult"]
    assert fp32["value"] == "4"  # the changed figure, not a copy in the script
    (source / "README.md").write_text("nothing useful\n")
    with pytest.raises(SystemExit, match="no longer says"):
        build_script.main([str(source), "--out", str(out)])
