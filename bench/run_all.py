"""Run every benchmark, each in its own process, and write docs/benchmarks.md.

    .venv/bin/python bench/run_all.py            # about 4 minutes
    .venv/bin/python bench/run_all.py --quick    # about 1 minute: fewer, shorter repetitions
    .venv/bin/python bench/run_all.py --long     # adds 60 s windows and longer cost runs
    .venv/bin/python bench/run_all.py --out -    # print the report instead of writing it

Each script prints its own figures and writes them as JSON (``--json``, see ``_common.Figure``);
this collects them into one report: a summary table (figure, jouleflow's value, the baseline
measured in the same run, their ratio, the target, pass or fail), the details, the machine and
the date. A script runs in a fresh process so that import times and RSS are its own.

Peers (issue 7) plug in as further ``Tool`` entries: a name, the interpreter of the virtual
environment the peer is installed in, and scripts that report ``Figure`` records under the same
keys with ``tool`` set to the peer's name. Their values then appear as extra columns on
jouleflow's rows; everything else here stays as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    BENCH_DIR,
    REPO_ROOT,
    Figure,
    fmt,
    fmt_ratio,
    machine,
    print_summary,
    target_text,
    value_text,
    verdict,
)


@dataclass(frozen=True)
class Script:
    file: str  # relative to bench/
    optional: bool = False  # run only when present (written separately)


@dataclass(frozen=True)
class Tool:
    name: str
    python: str  # the interpreter its scripts run under
    scripts: tuple[Script, ...]
    setup: str = ""  # how its environment was made, for the report


@dataclass
class Outcome:
    tool: str
    script: str
    wall_s: float
    returncode: int
    figures: list[Figure] = field(default_factory=list)
    error: str = ""


JOULEFLOW = Tool(
    "jouleflow",
    sys.executable,
    (
        Script("accuracy.py"),
        Script("import_time.py"),
        Script("start_latency.py"),
        Script("sampler_cpu.py"),
        Script("phase_mark.py"),
        Script("rss.py"),
        Script("store_throughput.py", optional=True),
    ),
    setup="this virtual environment (the package installed editable)",
)
TOOLS: tuple[Tool, ...] = (JOULEFLOW,)
TIMEOUT_S = {"quick": 300, "default": 900, "long": 2400}


def run_script(tool: Tool, script: Script, mode: str, scratch: Path) -> Outcome | None:
    path = BENCH_DIR / script.file
    if not path.is_file():
        if script.optional:
            return None
        return Outcome(tool.name, script.file, 0.0, -1, error=f"{path} is missing")
    out = scratch / f"{tool.name}-{path.stem}.json"
    command = [tool.python, str(path), "--json", str(out)]
    if mode != "default":
        command.append(f"--{mode}")
    env = {**os.environ, "JOULEFLOW_DB": str(scratch / "bench-runs.db")}
    print(f"\n=== {tool.name}: {script.file} ===", flush=True)
    begin = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=None,  # the script's own table goes straight to the console
            stderr=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT_S[mode],
            check=False,
        )
        returncode, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as err:
        returncode = -9
        stderr = f"timed out after {err.timeout:.0f} s"
    wall_s = time.monotonic() - begin
    outcome = Outcome(tool.name, script.file, wall_s, returncode)
    if returncode != 0 or not out.is_file():
        tail = (stderr or "").strip().splitlines()[-15:]
        outcome.error = "\n".join(tail) or f"exit code {returncode}, no figures written"
        print(outcome.error, file=sys.stderr)
        return outcome
    if stderr.strip():
        print(stderr, file=sys.stderr, end="")
    outcome.figures = [Figure.from_dict(d) for d in json.loads(out.read_text())]
    for figure in outcome.figures:
        figure.tool = figure.tool or tool.name
    return outcome


# -- the report ---------------------------------------------------------------------------------
HOW_TO_READ = """\
**How to read it.** No machine here has a readable power sensor, so every figure is measured on
`jouleflow.testing`'s simulators: a fake powercap tree whose `energy_uj` counters a simulator
process rewrites every 1 ms from a known power trace, and a simulated `libnvidia-ml.so.1` loaded
through the real nvidia-ml-py. Their ground truth is exact. The fake trees live in `/dev/shm`
(sysfs is in memory too) and the simulator process runs at nice −10 where allowed, so that its
counters are as fresh as hardware's (updated every ~1 ms) whatever else the machine runs.
Every ratio is against a baseline measured in the same run (the same process, or the same
command beside it), never against a number from another day; targets are from issue 2.

- *Accuracy*: |error| of `track()` against the truth over the run's own window, median and worst
  of the repetitions; judged on the worst. Baseline: the counter's own floor, what reading it
  directly costs given its ~1 ms update tick; a ratio near 1 means jouleflow adds nothing to it.
- *Cost*: medians; judged on the median. "Run store on" is `track()`'s default (each run is
  saved to SQLite, here in a scratch file); "off" (`db=False`) is the measurement core alone.
- Wall-clock figures (import, start, phase mark) move with the machine's load; the load average
  is in the machine line. CPU-time and RSS figures belong to the measured process alone.
"""


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def summary_table(figures: Sequence[Figure], peers: Sequence[str]) -> list[str]:
    header = ["figure", "jouleflow", *peers, "baseline", "ratio", "target", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_key: dict[str, dict[str, Figure]] = {}
    for f in figures:
        by_key.setdefault(f.key, {})[f.tool] = f
    for tools in by_key.values():
        own = tools.get("jouleflow") or next(iter(tools.values()))
        cells = [
            own.title,
            value_text(own) if "jouleflow" in tools else "—",
            *(value_text(tools[p]) if p in tools else "—" for p in peers),
            fmt(own.baseline, own.unit) if own.baseline is not None else "—",
            fmt_ratio(own.ratio),
            target_text(own),
            {"FAIL": "**FAIL**"}.get(verdict(own), verdict(own)),
        ]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return lines


def render(
    outcomes: Sequence[Outcome],
    mode: str,
    host: dict[str, str],
    load: tuple[float, float],
    only: Sequence[str] = (),
) -> str:
    figures = [f for o in outcomes for f in o.figures]
    peers = sorted({f.tool for f in figures} - {"jouleflow"})
    judged = [f for f in figures if f.tool == "jouleflow" and f.passed is not None]
    passed = sum(1 for f in judged if f.passed)
    failed = [f.title for f in judged if not f.passed]
    flags = "" if mode == "default" else f" --{mode}"
    if only:
        flags += " --only " + " ".join(only)
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python bench/run_all.py{flags}` on {host['date']}; rerun it rather than "
        "editing this file. Each script in `bench/` also runs alone and prints its figures.",
        "",
        f"**Machine:** {host['cpu']}, {host['cores']} cores; {host['python']}; {host['os']}; "
        f"jouleflow {host['jouleflow']}. Load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end.",
        "",
        "## Summary",
        "",
        *summary_table(figures, peers),
        "",
        f"{passed} of {len(judged)} targets met."
        + (f" Missed: {'; '.join(failed)}." if failed else ""),
        "",
        HOW_TO_READ,
    ]
    broken = [o for o in outcomes if o.error]
    if broken:
        lines += ["## Scripts that did not report", ""]
        for o in broken:
            lines += [f"**{o.script}** ({o.tool}), exit code {o.returncode}:", "", "```"]
            lines += [o.error, "```", ""]
    lines += ["## Details", ""]
    groups = {"accuracy": "Accuracy", "cost": "Cost"}
    for group in [*groups, *sorted({f.group for f in figures} - set(groups))]:
        members = [f for f in figures if f.group == group]
        if not members:
            continue
        lines += [f"### {groups.get(group, group.title() or 'Other')}", ""]
        for f in members:
            tool = "" if f.tool == "jouleflow" else f" [{f.tool}]"
            lines.append(
                f"**{_md_escape(f.title)}**{tool}: {value_text(f)}; target {target_text(f)}; "
                f"{verdict(f)}."
            )
            lines.append("")
            if f.baseline_label:
                lines.append(
                    f"- baseline ({fmt(f.baseline, f.unit)}): {f.baseline_label}; ratio "
                    f"{fmt_ratio(f.ratio)}: {f.ratio_label}"
                )
            lines += [f"- {d}" for d in f.details]
            lines.append("")
    lines += ["## Runs", "", "| tool | script | wall time | figures |", "|---|---|---|---|"]
    for o in outcomes:
        status = str(len(o.figures)) if not o.error else f"failed ({o.returncode})"
        lines.append(f"| {o.tool} | {o.script} | {o.wall_s:.0f} s | {status} |")
    lines.append("")
    for entry in TOOLS:
        lines.append(f"- {entry.name}: `{entry.python}`, {entry.setup}.")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about a minute")
    size.add_argument("--long", action="store_true", help="add 60 s windows and longer runs")
    parser.add_argument(
        "--out",
        default=str(REPO_ROOT / "docs" / "benchmarks.md"),
        help="where to write the report ('-' for stdout; default docs/benchmarks.md)",
    )
    parser.add_argument("--only", nargs="*", metavar="SCRIPT", help="run only these scripts")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "long" if args.long else "default"
    host = machine()
    load_start = os.getloadavg()[0]
    begin = time.monotonic()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="jouleflow-bench-") as scratch:
        for tool in TOOLS:
            for script in tool.scripts:
                if args.only and script.file not in args.only:
                    continue
                outcome = run_script(tool, script, mode, Path(scratch))
                if outcome is not None:
                    outcomes.append(outcome)
    report = render(outcomes, mode, host, (load_start, os.getloadavg()[0]), args.only or ())
    if args.out == "-":
        print(report)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
    print(f"\n=== summary ({time.monotonic() - begin:.0f} s) ===")
    print_summary([f for o in outcomes for f in o.figures])
    if args.out != "-":
        print(f"\nwrote {args.out}")
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
