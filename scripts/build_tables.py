"""Build jouleflow's shipped data tables, and their PROVENANCE.md, from the raw source data.

Usage (from the repository root)::

    python scripts/build_tables.py [SOURCE_DIR] [--out OUT_DIR]

``SOURCE_DIR`` holds the raw inputs as their publishers distribute them (default: ``../shared/data``
relative to the repository root); ``OUT_DIR`` defaults to ``src/jouleflow/data``. The output is a
pure function of the input bytes: no dates, no absolute paths, sorted rows, ``\\n`` line ends, so
running the script twice gives identical files and a diff shows only real data changes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "src" / "jouleflow" / "data"
BUILD_COMMAND = "python scripts/build_tables.py [SOURCE_DIR] [--out OUT_DIR]"

COLUMNS = ("model", "tdp_w", "unit", "year", "source_id", "licence")
CPU_TDP_INPUT = "hardware/cpu_tdp.csv"
CPU_TDP_OUTPUT = "cpu_tdp.csv"
CPU_TDP_SOURCE_ID = "codecarbon-3.3.2-cpu_power"
CPU_TDP_LICENCE = "MIT (compilation); facts from vendor sheets"

CODECARBON_NOTICE = (
    "MIT License. Copyright (c) 2019 Mila, BCG Gamma, CometML, Haverford College; "
    "Copyright (c) 2023 Code Carbon NGO. Permission is hereby granted, free of charge, to any "
    "person obtaining a copy of this software and associated documentation files (the "
    '"Software"), to deal in the Software without restriction, including without limitation the '
    "rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of "
    "the Software, and to permit persons to whom the Software is furnished to do so, subject to "
    "the following conditions: The above copyright notice and this permission notice shall be "
    "included in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "
    '"AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE '
    "WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO "
    "EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER "
    "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN "
    "CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."
)

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


@dataclass(frozen=True, slots=True)
class TableReport:
    """What one build did: enough to write its PROVENANCE.md section."""

    output: str
    input: str
    input_sha256: str
    input_rows: int
    output_rows: int
    dropped: tuple[tuple[str, str, str], ...]  # (model, raw value, why)
    merged: tuple[tuple[str, tuple[str, ...], str], ...]  # (model, raw values, kept)


def clean_model_name(raw: str) -> str:
    """The name as published, minus invisible characters and repeated or non-breaking spaces."""
    return " ".join(_INVISIBLE.sub("", raw).split())


def parse_tdp_w(raw: str) -> float | None:
    """A TDP in watts, or None when the source value is not a positive finite number."""
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def format_w(value: float) -> str:
    """Shortest exact text for a wattage: 125.0 -> '125', 0.65 -> '0.65'."""
    return str(int(value)) if value.is_integer() else repr(value)


def build_cpu_tdp(source_dir: Path, out_dir: Path) -> TableReport:
    raw_bytes = (source_dir / CPU_TDP_INPUT).read_bytes()
    reader = csv.reader(io.StringIO(raw_bytes.decode("utf-8-sig"), newline=""))
    header = next(reader)
    if [h.strip().lower() for h in header[:2]] != ["name", "tdp"]:
        raise SystemExit(f"{CPU_TDP_INPUT}: expected columns Name,TDP, found {header}")
    values: dict[str, list[tuple[str, float]]] = {}
    dropped: list[tuple[str, str, str]] = []
    input_rows = 0
    for row in reader:
        if not row:
            continue
        input_rows += 1
        name, raw_tdp = clean_model_name(row[0]), row[1] if len(row) > 1 else ""
        tdp = parse_tdp_w(raw_tdp)
        if not name:
            dropped.append((row[0], raw_tdp, "empty model name"))
        elif tdp is None:
            why = (
                "zero TDP (a missing value)"
                if raw_tdp.strip() in ("0", "0.0")
                else ("not a number (ranges such as 27.2-29.5 W lost their separator upstream)")
            )
            dropped.append((name, raw_tdp, why))
        else:
            values.setdefault(name, []).append((raw_tdp.strip(), tdp))

    merged: list[tuple[str, tuple[str, ...], str]] = []
    rows: list[tuple[str, ...]] = []
    for name in sorted(values, key=lambda n: (n.casefold(), n)):
        found = values[name]
        # Conflicting duplicates (the same model listed twice with different TDPs) keep the
        # larger figure: TDP is used as the sustained-power ceiling, so err on the high side.
        tdp = max(v for _, v in found)
        if len({v for _, v in found}) > 1:
            merged.append((name, tuple(sorted(r for r, _ in found)), format_w(tdp)))
        rows.append((name, format_w(tdp), "W", "", CPU_TDP_SOURCE_ID, CPU_TDP_LICENCE))

    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CPU_TDP_OUTPUT).write_bytes(text.getvalue().encode("utf-8"))
    return TableReport(
        output=CPU_TDP_OUTPUT,
        input=CPU_TDP_INPUT,
        input_sha256=hashlib.sha256(raw_bytes).hexdigest(),
        input_rows=input_rows,
        output_rows=len(rows),
        dropped=tuple(sorted(dropped)),
        merged=tuple(merged),
    )


def provenance(reports: Sequence[TableReport]) -> str:
    lines = [
        "# Provenance of jouleflow's shipped tables",
        "",
        "Generated by `scripts/build_tables.py`; do not edit by hand. Rebuild with",
        "",
        f"    {BUILD_COMMAND}",
        "",
        "from the repository root (SOURCE_DIR defaults to `../shared/data`, OUT_DIR to",
        "`src/jouleflow/data`). The build is deterministic: the same input bytes give the same",
        "files.",
        "Every row of every table carries its `unit`, `year` (empty where the source gives none),",
        "`source_id` and `licence`.",
    ]
    for report in reports:
        lines += _cpu_tdp_section(report)
    return "\n".join(lines) + "\n"


def _cpu_tdp_section(report: TableReport) -> list[str]:
    lines = [
        "",
        f"## {report.output}",
        "",
        "CPU model name -> thermal design power (TDP) in watts, per socket. Used by the CPU",
        "estimator (`jouleflow.sensors.estimate`) only where no sensor measures the CPU.",
        "",
        "| field | value |",
        "|---|---|",
        f"| columns | {', '.join(f'`{c}`' for c in COLUMNS)} |",
        f"| rows | {report.output_rows} |",
        f"| source_id | `{CPU_TDP_SOURCE_ID}` |",
        "| source | `codecarbon/data/hardware/cpu_power.csv` from the codecarbon 3.3.2 Python "
        "package (https://github.com/mlco2/codecarbon) |",
        "| original publishers | CPU vendors' specification sheets: Intel ARK "
        "(https://ark.intel.com) and AMD product specifications (https://www.amd.com), "
        "scraped and merged by codecarbon's `cpu_dataset_builder`; a few non-x86 rows "
        "(Apple M-series, Arm Cortex, ARMv8) whose origin the source does not state |",
        f"| licence | {CPU_TDP_LICENCE}: the facts are vendors' published specifications; "
        "the compilation is codecarbon's, under its MIT licence (notice below) |",
        "| year | not given by the source: left empty |",
        f"| input | `{report.input}` ({report.input_rows} rows), sha256 `{report.input_sha256}` |",
        "",
        "Transformations, in order:",
        "",
        "1. Model names: zero-width characters removed, non-breaking and repeated spaces turned",
        "   into single spaces; otherwise the name is kept as published (trademark signs "
        "included).",
        "2. TDP values that are not a positive number are dropped (listed below).",
        "3. Duplicate names with the same TDP are kept once; duplicates with different TDPs keep",
        "   the larger value (listed below).",
        "4. Values written in their shortest exact form (`125.0` -> `125`), unit `W`; rows sorted",
        "   by case-folded name.",
        "",
    ]
    if report.dropped:
        lines += ["Dropped rows:", "", "| model | source value | why |", "|---|---|---|"]
        lines += [f"| {m} | `{v}` | {why} |" for m, v, why in report.dropped]
        lines.append("")
    if report.merged:
        lines += [
            "Conflicting duplicates:",
            "",
            "| model | source values | kept |",
            "|---|---|---|",
        ]
        lines += [
            f"| {m} | {', '.join(f'`{v}`' for v in vs)} | `{k}` |" for m, vs, k in report.merged
        ]
        lines.append("")
    lines += [
        "codecarbon's licence notice, which covers the compilation:",
        "",
        "> " + CODECARBON_NOTICE,
    ]
    return lines


def build(source_dir: Path, out_dir: Path) -> list[TableReport]:
    """Build every table from ``source_dir`` into ``out_dir``, with PROVENANCE.md."""
    reports = [build_cpu_tdp(source_dir, out_dir)]
    (out_dir / "PROVENANCE.md").write_bytes(provenance(reports).encode("utf-8"))
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"folder of raw source data (default: {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where the tables go (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    if not (args.source / CPU_TDP_INPUT).is_file():
        print(f"error: {args.source / CPU_TDP_INPUT} not found", file=sys.stderr)
        return 2
    for report in build(args.source, args.out):
        print(
            f"{args.out / report.output}: {report.output_rows} rows from {report.input_rows} "
            f"({len(report.dropped)} dropped, {len(report.merged)} conflicts resolved)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
