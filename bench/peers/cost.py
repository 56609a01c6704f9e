"""What CodeCarbon and Zeus cost beside jouleflow: install, import, start, background CPU, memory.

Each tool runs from its own virtual environment (``venvs.py``), on the same simulated one-socket
powercap tree (package, core, DRAM at constant power) seen through the sandbox (``sandbox.py``),
and jouleflow is measured by the same harness as the baseline of every ratio:

- install size: the growth of ``site-packages`` from a fresh environment to one with the tool
  and all its dependencies (``du -sb``), jouleflow with its ``nvidia`` extra as the peers bring
  the NVML bindings too;
- import: ``python -c "<import>"`` minus ``python -c pass``, the same interpreter, alternated;
  the import is the one the tool's documentation starts with;
- start to first measurement, in fresh processes: making the tracker and starting it (CodeCarbon:
  ``EmissionsTracker()`` and ``start()``; Zeus: ``ZeusMonitor()`` and ``begin_window()``), the
  first time in a process and later (a new CodeCarbon tracker each time: one measures one run);
- per window: an empty nested window inside a running measurement (Zeus ``begin_window`` +
  ``end_window``; CodeCarbon ``start_task`` + ``stop_task``; jouleflow ``run.phase()``);
- background CPU and memory: one process per tool at once, each: RSS before and after its import,
  a window held open for the run's length (15 s: CodeCarbon's default measures every 15 s) with
  the CPU time of the process and every helper process it started, RSS at the end (helpers' RSS
  included: Zeus polls each RAPL counter for wraparound in a process of its own).

    .venv/bin/python bench/peers/cost.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import harness
import sandbox
from _common import Figure, finish, fmt, median, parse_args, scratch_dir
from harness import LABELS, compare, failed_figure
from venvs import ensure_all

IMPORTS = {
    "jouleflow": "import jouleflow",
    "codecarbon": "from codecarbon import EmissionsTracker",
    "zeus": "from zeus.monitor import ZeusMonitor",
}
START_TOOLS = ("jouleflow", "codecarbon", "codecarbon-best", "zeus")
IMPORT_RUNS = {"quick": 3, "default": 11, "long": 21}
START_PROCESSES = {"quick": 1, "default": 4, "long": 8}
WARM_STARTS = {"quick": 2, "default": 3, "long": 5}
MARKS = {"jouleflow": 2000, "codecarbon": 40, "codecarbon-best": 40, "zeus": 500}
PROFILE_S = {"quick": 3.0, "default": 15.0, "long": 30.0}


def install_figures(records: dict[str, Any]) -> list[Figure]:
    figures = []
    jf = records.get("jouleflow", {}).get("site_packages_bytes")
    for name in ("jouleflow", "codecarbon", "zeus"):
        record = records.get(name, {})
        if "error" in record or "site_packages_bytes" not in record:
            why = record.get("error", "not installed")
            figures.append(
                failed_figure(
                    "cost.install_size", "install size with dependencies", name, "cost", why, "MB"
                )
            )
            continue
        size_mb = record["site_packages_bytes"] / 1e6
        top = ", ".join(f"{d['name']} {d['bytes'] / 1e6:.0f}" for d in record["distributions"][:6])
        figures.append(
            Figure(
                key="cost.install_size",
                title="install size with dependencies",
                unit="MB",
                value=size_mb,
                baseline=jf / 1e6 if jf and name != "jouleflow" else None,
                baseline_label="jouleflow[nvidia], installed the same way"
                if name != "jouleflow"
                else "",
                ratio=record["site_packages_bytes"] / jf if jf and name != "jouleflow" else None,
                ratio_label="this tool's size ÷ jouleflow's",
                details=[
                    f"{record['requirement']} {record['version']} "
                    f"(installed {record['installed']}): "
                    f"{len(record['distributions'])} distributions; largest (MB): {top}",
                    "growth of site-packages (du -sb) from a fresh virtual environment",
                ],
                group="cost",
                tool=LABELS[name],
            )
        )
    return figures


def _wall_ms(python: str, code: str) -> float:
    begin = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, capture_output=True)
    return (time.perf_counter() - begin) * 1e3


def import_figures(runs: int) -> list[Figure]:
    pythons = {name: sandbox.python_for(name) for name in IMPORTS}
    bare: dict[str, list[float]] = {n: [] for n in IMPORTS}
    imported: dict[str, list[float]] = {n: [] for n in IMPORTS}
    for name, python in pythons.items():  # warm the file cache
        _wall_ms(python, IMPORTS[name])
    for _ in range(runs):
        for name, python in pythons.items():
            bare[name].append(_wall_ms(python, "pass"))
            imported[name].append(_wall_ms(python, IMPORTS[name]))
    added = {n: median(imported[n]) - median(bare[n]) for n in IMPORTS}
    figures = []
    for name in ("codecarbon", "zeus"):
        figures.append(
            Figure(
                key="cost.import",
                title="import added to a bare interpreter",
                unit="ms",
                value=added[name],
                baseline=added["jouleflow"],
                baseline_label="`import jouleflow`, measured alongside",
                ratio=added[name] / added["jouleflow"] if added["jouleflow"] > 0 else None,
                ratio_label="this tool's import ÷ jouleflow's",
                details=[
                    f"`{IMPORTS[name]}`: {runs} runs alternated with `python -c pass` of the same "
                    f"interpreter; medians {fmt(median(imported[name]))} ms and "
                    f"{fmt(median(bare[name]))} ms",
                    f"jouleflow alongside: {fmt(added['jouleflow'])} ms "
                    "(bench/import_time.py has its own figure)",
                ],
                group="cost",
                tool=LABELS[name],
            )
        )
    return figures


def start_figures(mode: str, tmp: Path, root: Any) -> list[Figure]:
    sensors = sandbox.Sensors(powercap=root)
    first: dict[str, list[float]] = {t: [] for t in START_TOOLS}
    warm: dict[str, list[float]] = {t: [] for t in START_TOOLS}
    errors: dict[str, str] = {}
    for _ in range(START_PROCESSES[mode]):
        for tool in START_TOOLS:
            args = ["start", tool, str(WARM_STARTS[mode])]
            answer = sandbox.run_once(sandbox.python_for(tool), args, sensors, tmp)
            if "error" in answer:
                errors[tool] = answer["error"]
                continue
            first[tool].append(answer["first_ms"])
            warm[tool].append(answer["warm_ms"])
    figures = []
    titles = {
        "first": "start → first measurement, first call in a process",
        "warm": "start → first measurement, later calls",
    }
    for which, data in (("first", first), ("warm", warm)):
        for tool in START_TOOLS[1:]:
            if not data[tool]:
                figures.append(
                    failed_figure(
                        f"cost.start.{which}", titles[which], tool, "cost", errors.get(tool, "")
                    )
                )
                continue
            detail = (
                "making the tracker and starting it; CodeCarbon's default looks up its location "
                "online (here it fails at once: no network)"
            )
            figures.append(
                compare(
                    f"cost.start.{which}",
                    titles[which],
                    tool,
                    data[tool],
                    data["jouleflow"],
                    unit="ms",
                    group="cost",
                    worst=False,
                    details=[detail],
                )
            )
    return figures


def overhead_figures(tmp: Path, root: Any) -> list[Figure]:
    sensors = sandbox.Sensors(powercap=root)
    answers = {
        tool: sandbox.run_once(
            sandbox.python_for(tool), ["overhead", tool, str(MARKS[tool])], sensors, tmp
        )
        for tool in START_TOOLS
    }
    jf = answers["jouleflow"].get("batches_us")
    what = {
        "codecarbon": "start_task() + stop_task() (each measures every component)",
        "codecarbon-best": "start_task() + stop_task() (each measures every component)",
        "zeus": "begin_window() + end_window() (each reads the RAPL counters)",
    }
    figures = []
    for tool in START_TOOLS[1:]:
        answer = answers[tool]
        if "error" in answer:
            figures.append(
                failed_figure(
                    "cost.phase_block", "per window or phase", tool, "cost", answer["error"], "µs"
                )
            )
            continue
        figures.append(
            compare(
                "cost.phase_block",
                "per window or phase",
                tool,
                answer["batches_us"],
                jf,
                unit="µs",
                group="cost",
                worst=False,
                details=[f"{answer['marks']} empty nested windows: {what[tool]}, in 5 batches"],
            )
        )
    return figures


def profile_figures(mode: str, tmp: Path, root: Any) -> list[Figure]:
    sensors = sandbox.Sensors(powercap=root)
    seconds = PROFILE_S[mode]
    with ThreadPoolExecutor(len(START_TOOLS)) as pool:
        futures = {
            tool: pool.submit(
                sandbox.run_once,
                sandbox.python_for(tool),
                ["profile", tool, str(seconds)],
                sensors,
                tmp,
                seconds * 4 + 120,
            )
            for tool in START_TOOLS
        }
        answers = {tool: f.result() for tool, f in futures.items()}
    jf = answers["jouleflow"]
    figures = []
    for tool in START_TOOLS[1:]:
        answer = answers[tool]
        if "error" in answer:
            figures.append(
                failed_figure(
                    "cost.sampler_cpu",
                    "background CPU, % of one core",
                    tool,
                    "cost",
                    answer["error"],
                )
            )
            figures.append(
                failed_figure("cost.rss", "RSS growth", tool, "cost", answer["error"], "MB")
            )
            continue
        pct = answer["cpu_s"] / answer["wall_s"] * 100
        jf_pct = jf["cpu_s"] / jf["wall_s"] * 100 if "cpu_s" in jf else None
        figures.append(
            compare(
                "cost.sampler_cpu",
                "background CPU, % of one core",
                tool,
                [pct],
                [jf_pct] if jf_pct is not None else None,
                group="cost",
                worst=False,
                details=[
                    f"{fmt(answer['wall_s'])} s with a window open at default settings; CPU of the "
                    f"process and its {answer['helpers']} helper process(es) "
                    "(the same process idle "
                    f"before: {fmt(answer['idle_cpu_pct'])} %)"
                ],
            )
        )
        growth = answer["after_mb"] - answer["before_mb"] + answer["helpers_mb"]
        jf_growth = (
            jf["after_mb"] - jf["before_mb"] + jf["helpers_mb"] if "after_mb" in jf else None
        )
        figures.append(
            compare(
                "cost.rss",
                "RSS growth",
                tool,
                [growth],
                [jf_growth] if jf_growth is not None else None,
                unit="MB",
                group="cost",
                worst=False,
                details=[
                    f"RSS {fmt(answer['before_mb'])} MB before the import, "
                    f"{fmt(answer['imported_mb'])} "
                    f"after, {fmt(answer['after_mb'])} after "
                    f"{fmt(answer['wall_s'])} s of a window; plus "
                    f"{fmt(answer['helpers_mb'])} MB in {answer['helpers']} helper process(es)"
                ],
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    why = sandbox.available()
    if why:
        raise SystemExit(f"the peers' sandbox cannot be made here: {why}")
    records = ensure_all(("codecarbon", "zeus", "jouleflow"))
    figures = install_figures(records)
    steps = []
    begin = time.monotonic()
    figures += import_figures(IMPORT_RUNS[args.mode])
    steps.append(f"import {time.monotonic() - begin:.0f} s")
    with scratch_dir("jouleflow-peers-") as tmp, harness.one_socket(Path(tmp) / "socket") as tree:
        for name, step in (("start", start_figures), ("profile", profile_figures)):
            begin = time.monotonic()
            figures += step(args.mode, Path(tmp), tree.root)
            steps.append(f"{name} {time.monotonic() - begin:.0f} s")
        begin = time.monotonic()
        figures += overhead_figures(Path(tmp), tree.root)
        steps.append(f"overhead {time.monotonic() - begin:.0f} s")
    print("; ".join(steps), file=sys.stderr)
    finish(figures, args)


if __name__ == "__main__":
    main()
