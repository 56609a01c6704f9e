"""Build jouleflow's explain tables (energy per operation, devices), with PROVENANCE.md.

Usage (from the repository root)::

    python scripts/build_explain_tables.py [SOURCE_DIR] [--out OUT_DIR]

``SOURCE_DIR`` (default ``../shared/data``) holds ``README.md``, whose "Other figures worth
knowing" give the Horowitz (ISSCC 2014) 45 nm energies, the A100/H100 whole-board bounds and the
HBM/DDR pJ/bit ranges: they are parsed from it, so a change there changes the tables. The vendor
datasheet figures (peak FLOP/s, bandwidth, TDP) are written out below with the source of each.
``OUT_DIR`` defaults to ``src/jouleflow/explain/data``.

Every row carries a ``label``: ``measured-in-silicon`` (a circuit measurement),
``datasheet-bound`` (a vendor's peak or maximum: nothing runs faster or draws more) or
``estimate`` (a model, a typical value, or a figure derived from others). The output is a pure
function of the inputs: exact decimal arithmetic, sorted rows, ``\\n`` line ends, no dates.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "src" / "jouleflow" / "explain" / "data"
SCHEMA_VERSION = 1  # bump when a table's columns change
README = "README.md"

MEASURED = "measured-in-silicon"
BOUND = "datasheet-bound"
ESTIMATE = "estimate"
LABELS = (MEASURED, BOUND, ESTIMATE)
PRECISIONS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8")


@dataclass(frozen=True, slots=True)
class Source:
    source_id: str
    title: str
    publisher: str
    year: str
    url: str
    note: str = ""


SOURCES = (
    Source(
        "horowitz-isscc2014",
        "Computing's energy problem (and what we can do about it)",
        "M. Horowitz, IEEE ISSCC 2014, pp. 10-14, doi:10.1109/ISSCC.2014.6757323",
        "2014",
        "https://doi.org/10.1109/ISSCC.2014.6757323",
        "45 nm, 0.9 V figures compiled from circuit data; as quoted in ../shared/data/README.md",
    ),
    Source(
        "shared-data-notes",
        "Other figures worth knowing (whole-board bounds; HBM and DDR energy per bit)",
        "jouleflow shared data notes (../shared/data/README.md)",
        "2026",
        "",
        "HBM 3-7 pJ/bit and DDR4/5 10-25 pJ/bit are literature ranges (interface + array)",
    ),
    Source(
        "nvidia-a100-datasheet",
        "NVIDIA A100 Tensor Core GPU datasheet (A100 80GB SXM column)",
        "NVIDIA",
        "2021",
        "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
        "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
        "tensor figures given dense here (the sheet's starred figures are with sparsity)",
    ),
    Source(
        "nvidia-h100-datasheet",
        "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column)",
        "NVIDIA",
        "2023",
        "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet",
        "the sheet's tensor figures are with sparsity; dense = half",
    ),
    Source(
        "nvidia-h200-datasheet",
        "NVIDIA H200 Tensor Core GPU product page and datasheet (H200 SXM column)",
        "NVIDIA",
        "2024",
        "https://www.nvidia.com/en-us/data-center/h200/",
        "the sheet's tensor figures are with sparsity; dense = half",
    ),
    Source(
        "nvidia-l4-datasheet",
        "NVIDIA L4 Tensor Core GPU datasheet",
        "NVIDIA",
        "2023",
        "https://www.nvidia.com/en-us/data-center/l4/",
        "the sheet's tensor figures are with sparsity; dense = half",
    ),
    Source(
        "nvidia-ada-whitepaper",
        "NVIDIA Ada GPU Architecture whitepaper (GeForce RTX 4090 column)",
        "NVIDIA",
        "2023",
        "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
        "tensor figures with FP32 accumulate, dense",
    ),
    Source(
        "amd-mi300x-datasheet",
        "AMD Instinct MI300X Accelerator data sheet",
        "AMD",
        "2023",
        "https://www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/"
        "amd-instinct-mi300x-data-sheet.pdf",
        "dense (non-sparse) peak figures",
    ),
    Source(
        "intel-xeon-8480plus",
        "Intel Xeon Platinum 8480+ specifications (ARK); Intel 64 and IA-32 Architectures "
        "Optimization Reference Manual (AVX-512: 2 FMA units; AMX: 1024 BF16 FLOP per cycle "
        "per core)",
        "Intel",
        "2023",
        "https://www.intel.com/content/www/us/en/products/sku/231746/"
        "intel-xeon-platinum-8480-processor-105m-cache-2-00-ghz/specifications.html",
        "peaks computed as cores x base clock x FLOP per cycle; 8 channels DDR5-4800",
    ),
    Source(
        "amd-epyc-9654",
        "AMD EPYC 9654 specifications; Zen 4 executes AVX-512 on 256-bit FMA units",
        "AMD",
        "2022",
        "https://www.amd.com/en/products/processors/server/epyc/4th-generation-9004-and-8004-"
        "series/amd-epyc-9654.html",
        "peaks computed as cores x base clock x FLOP per cycle; 12 channels DDR5-4800",
    ),
    Source(
        "micron-gddr6x",
        "GDDR6X graphics memory (about 7.25 pJ/bit as Micron reported it)",
        "Micron",
        "2020",
        "https://www.micron.com/products/memory/graphics-memory/gddr6x",
        "a vendor's figure for the interface; kept as an estimate",
    ),
    Source(
        "jouleflow-estimate",
        "jouleflow's own estimates",
        "jouleflow (src/jouleflow/sensors/estimate.py and this script)",
        "2026",
        "",
        "idle power: typical draw of an idle board or socket, not on any datasheet; CPU idle "
        "is 25% of TDP like jouleflow's CPU estimator; generic CPU 4 W per logical CPU (8 W "
        "per 2-thread core) like its generic TDP; replace with `jouleflow calibrate`",
    ),
)

# --- devices: datasheet figures, dense, written as each sheet gives them -----------------------
# peak in TFLOP/s (TOP/s for int8), bandwidth GB/s, tdp W; idle W is an estimate (low, mid, high).


@dataclass(frozen=True, slots=True)
class Device:
    key: str
    name: str
    kind: str  # gpu | cpu
    vendor: str
    memory: str  # hbm | gddr | ddr: which j_per_byte row applies
    process_node: str
    year: str
    threads: int  # CPUs: logical CPUs the figures are for (scaled to the host); GPUs: 0
    match: str  # regular expression on the GPU name or CPU model
    source_id: str
    peak_tflops: dict[str, str]
    bandwidth_gb_s: str
    tdp_w: str
    idle_w: tuple[str, str, str]
    peak_label: str = BOUND
    note: str = ""


# fmt: off
DEVICES = (
    Device("a100", "NVIDIA A100 SXM4 80GB", "gpu", "NVIDIA", memory="hbm",
           process_node="TSMC N7", year="2020", threads=0, match=r"\bA100\b",
           source_id="nvidia-a100-datasheet",
           peak_tflops={"fp64": "19.5", "fp32": "19.5", "tf32": "156", "bf16": "312",
                        "fp16": "312", "int8": "624"},
           bandwidth_gb_s="2039", tdp_w="400", idle_w=("35", "50", "70"),
           note="fp64 is the tensor-core figure (DMMA); PCIe boards: 300 W, 1,935 GB/s"),
    Device("h100", "NVIDIA H100 SXM5 80GB", "gpu", "NVIDIA", memory="hbm",
           process_node="TSMC 4N", year="2022", threads=0, match=r"\bH100\b",
           source_id="nvidia-h100-datasheet",
           peak_tflops={"fp64": "67", "fp32": "67", "tf32": "494.5", "bf16": "989.5",
                        "fp16": "989.5", "fp8": "1979", "int8": "1979"},
           bandwidth_gb_s="3350", tdp_w="700", idle_w=("50", "70", "120"),
           note="fp64 is the tensor-core figure; PCIe and NVL boards are slower and draw less"),
    Device("h200", "NVIDIA H200 SXM 141GB", "gpu", "NVIDIA", memory="hbm",
           process_node="TSMC 4N", year="2024", threads=0, match=r"\bH200\b",
           source_id="nvidia-h200-datasheet",
           peak_tflops={"fp64": "67", "fp32": "67", "tf32": "494.5", "bf16": "989.5",
                        "fp16": "989.5", "fp8": "1979", "int8": "1979"},
           bandwidth_gb_s="4800", tdp_w="700", idle_w=("50", "75", "120"),
           note="the H100's compute with HBM3e; H200 NVL boards: up to 600 W"),
    Device("l4", "NVIDIA L4", "gpu", "NVIDIA", memory="gddr",
           process_node="TSMC 4N", year="2023", threads=0, match=r"\bL4\b",
           source_id="nvidia-l4-datasheet",
           peak_tflops={"fp32": "30.3", "tf32": "60", "bf16": "121", "fp16": "121",
                        "fp8": "242.5", "int8": "242.5"},
           bandwidth_gb_s="300", tdp_w="72", idle_w=("10", "16", "25")),
    Device("rtx4090", "NVIDIA GeForce RTX 4090", "gpu", "NVIDIA", memory="gddr",
           process_node="TSMC 4N", year="2022", threads=0, match=r"RTX 4090",
           source_id="nvidia-ada-whitepaper",
           peak_tflops={"fp32": "82.6", "tf32": "82.6", "bf16": "165.2", "fp16": "165.2",
                        "fp8": "330.3", "int8": "660.6"},
           bandwidth_gb_s="1008", tdp_w="450", idle_w=("10", "25", "40"),
           note="TDP is the board's total graphics power"),
    Device("mi300x", "AMD Instinct MI300X", "gpu", "AMD", memory="hbm",
           process_node="TSMC N5 + N6", year="2023", threads=0, match=r"MI300X",
           source_id="amd-mi300x-datasheet",
           peak_tflops={"fp64": "163.4", "fp32": "163.4", "tf32": "653.7", "bf16": "1307.4",
                        "fp16": "1307.4", "fp8": "2614.9", "int8": "2614.9"},
           bandwidth_gb_s="5300", tdp_w="750", idle_w=("90", "140", "200"),
           note="fp64 and fp32 are the matrix figures"),
    Device("xeon-spr", "Intel Xeon Scalable 4th gen (Platinum 8480+ as the class)", "cpu",
           "Intel", memory="ddr", process_node="Intel 7", year="2023", threads=112,
           match=r"Xeon.*(Platinum|Gold|Silver|Bronze) [3-9]4\d\d|Sapphire Rapids",
           source_id="intel-xeon-8480plus",
           peak_tflops={"fp64": "3.584", "fp32": "7.168", "bf16": "114.688", "int8": "229.376"},
           bandwidth_gb_s="307.2", tdp_w="350", idle_w=("50", "87.5", "120"),
           note="56 cores x 2.0 GHz base x 32 (fp64) / 64 (fp32) FLOP per cycle with AVX-512, "
           "1024 (bf16) / 2048 (int8) with AMX; heavy AVX-512 runs below base clock"),
    Device("epyc-genoa", "AMD EPYC 9004 (EPYC 9654 as the class)", "cpu", "AMD", memory="ddr",
           process_node="TSMC N5 + N6", year="2022", threads=192, match=r"EPYC 9\d\d4",
           source_id="amd-epyc-9654",
           peak_tflops={"fp64": "3.6864", "fp32": "7.3728"},
           bandwidth_gb_s="460.8", tdp_w="360", idle_w=("50", "90", "130"),
           note="96 cores x 2.4 GHz base x 16 (fp64) / 32 (fp32) FLOP per cycle"),
    Device("cpu-generic", "generic x86-64 server CPU, per logical CPU (AVX2)", "cpu", "",
           memory="ddr", process_node="", year="", threads=1, match=r".",
           source_id="jouleflow-estimate",
           peak_tflops={"fp64": "0.02", "fp32": "0.04"},
           bandwidth_gb_s="2.5", tdp_w="4", idle_w=("0.5", "1", "2"), peak_label=ESTIMATE,
           note="a 2-thread core at 2.5 GHz doing 16 (fp64) / 32 (fp32) FLOP per cycle, shared "
           "by its two threads; 5 GB/s of DRAM bandwidth per core; used when no class matches"),
)
# fmt: on

MEMORY_ROWS = {"hbm": "hbm-byte", "gddr": "gddr-byte", "ddr": "ddr-byte"}


# --- helpers -----------------------------------------------------------------------------------
def fmt(value: Decimal) -> str:
    """A plain decimal, no exponent, no trailing zeros (``0.7074``, ``1979``)."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def q(value: Decimal, places: int = 6) -> Decimal:
    """Round derived figures to ``places`` significant digits (exact inputs stay exact)."""
    if value == 0:
        return value
    exponent = value.adjusted() - places + 1
    return value.quantize(Decimal(1).scaleb(exponent))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return count


def _find(pattern: str, text: str) -> tuple[Decimal, ...]:
    found = re.search(pattern, text)
    if found is None:
        raise SystemExit(f"build_explain_tables: {README} no longer says {pattern!r}")
    return tuple(Decimal(g) for g in found.groups())


def read_shared_figures(source_dir: Path) -> dict[str, tuple[Decimal, ...]]:
    """The figures of ../shared/data/README.md this build uses, by name."""
    text = " ".join((source_dir / README).read_text(encoding="utf-8").split())
    number = r"([\d.]+)"
    return {
        "int_add": _find(rf"int add {number} pJ \(8b\) / {number} pJ \(32b\)", text),
        "int_mult": _find(rf"int mult {number} pJ \(8b\) / {number} pJ \(32b\)", text),
        "fp_add": _find(rf"fp add {number} pJ \(16b\) / {number} pJ \(32b\)", text),
        "fp_mult": _find(rf"fp mult {number} pJ \(16b\) / {number} pJ \(32b\)", text),
        "sram": _find(rf"64-bit read from an 8 KB SRAM {number} pJ", text),
        "dram": _find(rf"64-bit DRAM read {number}[–-]{number} nJ", text),
        "a100": _find(rf"A100 SXM BF16 {number} W / {number} TFLOP/s ≈ {number} pJ/FLOP", text),
        "h100": _find(rf"H100 SXM BF16 {number} W / {number} TFLOP/s ≈ {number} pJ/FLOP", text),
        "hbm": _find(rf"HBM ≈ {number}[–-]{number} pJ/bit", text),
        "ddr": _find(rf"DDR4/5 ≈ {number}[–-]{number} pJ/bit", text),
    }


OPERATION_COLUMNS = [
    "key",
    "operation",
    "precision",
    "process_node",
    "value",
    "low",
    "high",
    "unit",
    "year",
    "label",
    "source_id",
    "note",
]


def operation_rows(shared: dict[str, tuple[Decimal, ...]]) -> list[list[str]]:
    """Energy per operation and per byte, each row with its node, year, label and source."""
    h = "horowitz-isscc2014"
    rows: list[list[str]] = []

    def add(
        key: str,
        operation: str,
        precision: str,
        node: str,
        value: Decimal,
        low: Decimal | None,
        high: Decimal | None,
        unit: str,
        year: str,
        label: str,
        source: str,
        note: str = "",
    ) -> None:
        rows.append(
            [
                key,
                operation,
                precision,
                node,
                fmt(value),
                fmt(low) if low is not None else "",
                fmt(high) if high is not None else "",
                unit,
                year,
                label,
                source,
                note,
            ]
        )

    (i8a, i32a), (i8m, i32m) = shared["int_add"], shared["int_mult"]
    (f16a, f32a), (f16m, f32m) = shared["fp_add"], shared["fp_mult"]
    for key, op, prec, value in (
        ("int8-add", "integer add", "int8", i8a),
        ("int32-add", "integer add", "int32", i32a),
        ("int8-mult", "integer multiply", "int8", i8m),
        ("int32-mult", "integer multiply", "int32", i32m),
        ("fp16-add", "floating-point add", "fp16", f16a),
        ("fp32-add", "floating-point add", "fp32", f32a),
        ("fp16-mult", "floating-point multiply", "fp16", f16m),
        ("fp32-mult", "floating-point multiply", "fp32", f32m),
    ):
        add(key, op, prec, "45 nm", value, None, None, "pJ", "2014", MEASURED, h, "0.9 V")
    for prec, mult, plus in (("fp16", f16m, f16a), ("fp32", f32m, f32a), ("int8", i8m, i8a)):
        add(
            f"{prec}-flop-alu",
            "one FLOP of a multiply-add in the ALU alone ((mult+add)/2)",
            prec,
            "45 nm",
            (mult + plus) / 2,
            None,
            None,
            "pJ/FLOP",
            "2014",
            ESTIMATE,
            h,
            "derived from the two rows above; no operand fetch, control or data movement",
        )
    (sram,) = shared["sram"]
    add(
        "sram-8kb-read",
        "64-bit read from an 8 KB SRAM",
        "",
        "45 nm",
        sram,
        None,
        None,
        "pJ",
        "2014",
        MEASURED,
        h,
    )
    dram_low, dram_high = shared["dram"]
    add(
        "dram-64bit-read",
        "64-bit read from DRAM",
        "",
        "45 nm",
        (dram_low + dram_high) / 2 * 1000,
        dram_low * 1000,
        dram_high * 1000,
        "pJ",
        "2014",
        MEASURED,
        h,
        "value: middle of the range",
    )
    add(
        "dram45-byte",
        "one byte moved from DRAM (the 64-bit read / 8)",
        "",
        "45 nm",
        (dram_low + dram_high) / 2 * 1000 / 8,
        dram_low * 1000 / 8,
        dram_high * 1000 / 8,
        "pJ/byte",
        "2014",
        ESTIMATE,
        h,
        "derived from the row above",
    )
    for key, name, (low, high) in (
        ("hbm-byte", "one byte between HBM and the chip", shared["hbm"]),
        ("ddr-byte", "one byte between DDR4/DDR5 and the chip", shared["ddr"]),
    ):
        mid = (low + high) / 2
        add(
            key,
            name,
            "",
            "",
            mid * 8,
            low * 8,
            high * 8,
            "pJ/byte",
            "",
            ESTIMATE,
            "shared-data-notes",
            f"{fmt(low)}-{fmt(high)} pJ/bit x 8; value: the middle",
        )
    add(
        "gddr-byte",
        "one byte between GDDR6/GDDR6X and the chip",
        "",
        "",
        Decimal("58"),
        Decimal("48"),
        Decimal("72"),
        "pJ/byte",
        "2020",
        ESTIMATE,
        "micron-gddr6x",
        "7.25 pJ/bit x 8; range 6-9 pJ/bit",
    )
    for key, name in (("a100", "NVIDIA A100 SXM"), ("h100", "NVIDIA H100 SXM")):
        watts, tflops, quoted = shared[key]
        add(
            f"{key}-bf16-board",
            f"one bf16 FLOP on a whole {name} board at TDP and dense peak",
            "bf16",
            "",
            quoted,
            None,
            None,
            "pJ/FLOP",
            "",
            BOUND,
            "shared-data-notes",
            f"{fmt(watts)} W / {fmt(tflops)} TFLOP/s; an upper bound: every watt charged to "
            "arithmetic",
        )
    return sorted(rows)


DEVICE_COLUMNS = [
    "key",
    "name",
    "kind",
    "vendor",
    "memory",
    "process_node",
    "year",
    "threads",
    "match",
    "source_id",
    "note",
]
FIGURE_COLUMNS = [
    "device",
    "quantity",
    "precision",
    "value",
    "low",
    "high",
    "unit",
    "label",
    "source_id",
    "note",
]


def device_rows() -> list[list[str]]:
    return sorted(
        [
            d.key,
            d.name,
            d.kind,
            d.vendor,
            d.memory,
            d.process_node,
            d.year,
            str(d.threads),
            d.match,
            d.source_id,
            d.note,
        ]
        for d in DEVICES
    )


def figure_rows(operations: list[list[str]]) -> list[list[str]]:
    """Per device: peaks, bandwidth, TDP, idle; then the energies derived from them."""
    memory = {row[0]: row for row in operations}
    rows: list[list[str]] = []
    for d in DEVICES:
        tdp = Decimal(d.tdp_w)
        idle_low, idle, idle_high = (Decimal(x) for x in d.idle_w)
        for prec in PRECISIONS:
            if prec not in d.peak_tflops:
                continue
            peak = Decimal(d.peak_tflops[prec])
            rows.append(
                [
                    d.key,
                    "peak_flops",
                    prec,
                    fmt(peak),
                    "",
                    "",
                    "TFLOP/s",
                    d.peak_label,
                    d.source_id,
                    "dense",
                ]
            )
            bound = q(tdp / peak)  # W / TFLOP/s = pJ/FLOP
            rows.append(
                [
                    d.key,
                    "j_per_flop_bound",
                    prec,
                    fmt(bound),
                    "",
                    "",
                    "pJ/FLOP",
                    BOUND if d.peak_label == BOUND else ESTIMATE,
                    d.source_id,
                    "TDP / dense peak: the whole board's energy per FLOP at peak",
                ]
            )
            dynamic = q((tdp - idle) / peak)
            rows.append(
                [
                    d.key,
                    "j_per_flop",
                    prec,
                    fmt(dynamic),
                    fmt(q(dynamic / 2)),
                    fmt(bound),
                    "pJ/FLOP",
                    ESTIMATE,
                    "jouleflow-estimate",
                    "(TDP - idle) / dense peak: dynamic energy per FLOP at peak; low: "
                    "half of it; high: the whole-board bound",
                ]
            )
        rows.append(
            [
                d.key,
                "memory_bandwidth",
                "",
                d.bandwidth_gb_s,
                "",
                "",
                "GB/s",
                d.peak_label,
                d.source_id,
                "peak",
            ]
        )
        rows.append(
            [
                d.key,
                "tdp",
                "",
                d.tdp_w,
                "",
                "",
                "W",
                d.peak_label,
                d.source_id,
                "thermal design / board power",
            ]
        )
        rows.append(
            [
                d.key,
                "idle_power",
                "",
                fmt(idle),
                fmt(idle_low),
                fmt(idle_high),
                "W",
                ESTIMATE,
                "jouleflow-estimate",
                "typical idle draw, not on the datasheet",
            ]
        )
        mem = memory[MEMORY_ROWS[d.memory]]
        rows.append(
            [
                d.key,
                "j_per_byte",
                "",
                mem[4],
                mem[5],
                mem[6],
                "pJ/byte",
                ESTIMATE,
                mem[10],
                f"{mem[1]} (row {mem[0]} of operations.csv)",
            ]
        )
    return sorted(rows)


def source_rows() -> list[list[str]]:
    return sorted([s.source_id, s.title, s.publisher, s.year, s.url, s.note] for s in SOURCES)


def provenance(counts: dict[str, int], readme_sha: str, version: str) -> str:
    labels = "\n".join(f"- `{label}`" for label in LABELS)
    devices = "\n".join(
        f"| `{d.key}` | {d.name} | {d.process_node or '-'} | {d.year or '-'} | `{d.source_id}` |"
        for d in DEVICES
    )
    sources = "\n".join(
        f"- `{s.source_id}`: {s.title}. {s.publisher}, {s.year}. {s.url}".rstrip()
        + "."
        + (f" ({s.note})" if s.note else "")
        for s in SOURCES
    )
    tables = "\n".join(f"| `{name}` | {n} |" for name, n in sorted(counts.items()))
    return f"""# Provenance of jouleflow's explain tables

Generated by `scripts/build_explain_tables.py`; do not edit by hand. Rebuild with

    python scripts/build_explain_tables.py [SOURCE_DIR] [--out OUT_DIR]

Tables version: `{version}` (schema {SCHEMA_VERSION}, then the first 8 hex digits of the
sha256 over all output tables). Input: `README.md` of the shared data folder, sha256
`{readme_sha}` (the Horowitz 45 nm energies, the A100/H100 whole-board bounds and the HBM/DDR
pJ/bit ranges are parsed from it); the datasheet figures are written in the script, each with
its source.

Every figure has a label:
{labels}

`measured-in-silicon`: measured on a circuit (Horowitz's 45 nm table). `datasheet-bound`: a
vendor's peak FLOP/s, peak bandwidth or TDP, or a figure computed only from those (TDP / peak):
nothing runs faster or draws more, so energy per FLOP at peak is bounded by it. `estimate`:
typical values (idle power), ranges from the literature (pJ per bit), and figures derived from
others by a model (dynamic energy per FLOP = (TDP - idle) / peak).

| table | rows |
|---|---|
{tables}

## Devices

| key | name | process | year | source |
|---|---|---|---|---|
{devices}

Peak FLOP/s are dense (no structured sparsity). CPU classes are whole parts; jouleflow scales
their peak, bandwidth, TDP and idle power by the host's logical CPUs / `threads`.

## Sources

{sources}
"""


def build(source_dir: Path, out_dir: Path) -> tuple[dict[str, int], str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    readme = source_dir / README
    shared = read_shared_figures(source_dir)
    operations = operation_rows(shared)
    counts = {
        "operations.csv": write_csv(out_dir / "operations.csv", OPERATION_COLUMNS, operations),
        "devices.csv": write_csv(out_dir / "devices.csv", DEVICE_COLUMNS, device_rows()),
        "device_figures.csv": write_csv(
            out_dir / "device_figures.csv", FIGURE_COLUMNS, figure_rows(operations)
        ),
        "sources.csv": write_csv(
            out_dir / "sources.csv",
            ["source_id", "title", "publisher", "year", "url", "note"],
            source_rows(),
        ),
    }
    combined = hashlib.sha256()
    hashes = {}
    for name in sorted(counts):
        data = (out_dir / name).read_bytes()
        hashes[name] = hashlib.sha256(data).hexdigest()
        combined.update(data)
    version = f"{SCHEMA_VERSION}.{combined.hexdigest()[:8]}"
    readme_sha = hashlib.sha256(readme.read_bytes()).hexdigest()
    manifest = {
        "built_by": "scripts/build_explain_tables.py",
        "inputs": {README: readme_sha},
        "labels": list(LABELS),
        "schema_version": SCHEMA_VERSION,
        "tables": {name: {"rows": counts[name], "sha256": hashes[name]} for name in counts},
        "tables_version": version,
    }
    (out_dir / "manifest.json").write_bytes(
        (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    )
    (out_dir / "PROVENANCE.md").write_bytes(provenance(counts, readme_sha, version).encode("utf-8"))
    return counts, version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.source / README).is_file():
        print(f"build_explain_tables: no {README} in {args.source}", file=sys.stderr)
        return 2
    counts, version = build(args.source, args.out)
    for name, n in sorted(counts.items()):
        print(f"{name}: {n} rows")
    print(f"tables version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
