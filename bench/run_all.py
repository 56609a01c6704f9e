"""Run every benchmark, each in its own process, and write docs/benchmarks.md.

    .venv/bin/python bench/run_all.py            # about 9 minutes, CodeCarbon and Zeus included
    .venv/bin/python bench/run_all.py --quick    # about 3 minutes: fewer, shorter repetitions
    .venv/bin/python bench/run_all.py --long     # adds 60 s windows and longer cost runs
    .venv/bin/python bench/run_all.py --no-peers # jouleflow alone (about 4 minutes)
    .venv/bin/python bench/run_all.py --out -    # print the report instead of writing it

Each script prints its own figures and writes them as JSON (``--json``, see ``_common.Figure``);
this collects them into one report: a summary table (figure, jouleflow's value, the baseline
measured in the same run, their ratio, the target, pass or fail), the details, the machine and
the date. A script runs in a fresh process so that import times and RSS are its own.

Peers (issue 7) are one more ``Tool`` entry, ``peers``: its scripts (``bench/peers/``) run under
this interpreter, drive the same simulators, and start CodeCarbon and Zeus from their own virtual
environments (``bench/.peers-venv/``, made once on the first run: ``--refresh-peers`` makes them
again with the latest releases) in sandboxes that show them the simulated sensors. They report
``Figure`` records under jouleflow's keys with ``tool`` set to the peer's name, which become the
peers' columns on jouleflow's rows. Peers need root (mount namespaces); elsewhere they are skipped
and the report says why.
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
from typing import Any

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

sys.path.insert(1, str(BENCH_DIR / "peers"))
import harness
import sandbox
import venvs


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
        Script("attribution_overhead.py", optional=True),
    ),
    setup="this virtual environment (the package installed editable)",
)
PEERS = Tool(
    "peers",
    sys.executable,
    (Script("peers/accuracy.py"), Script("peers/cost.py"), Script("peers/robustness.py")),
    setup="this interpreter drives the simulators; each peer runs from its own virtual environment "
    "under bench/.peers-venv/, in a sandbox (bench/peers/sandbox.py)",
)
TOOLS: tuple[Tool, ...] = (JOULEFLOW, PEERS)
TIMEOUT_S = {"quick": 300, "default": 900, "long": 2400}


def run_script(tool: Tool, script: Script, mode: str, scratch: Path) -> Outcome | None:
    path = BENCH_DIR / script.file
    if not path.is_file():
        if script.optional:
            return None
        return Outcome(tool.name, script.file, 0.0, -1, error=f"{path} is missing")
    out = scratch / f"{tool.name}-{path.stem}.json"
    if out.exists():
        out.unlink()
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
PEER_COLUMNS = tuple(harness.LABELS[t] for t in harness.PEER_TOOLS)

# The one-screen summary: (key, short title); every figure is in "All figures" below it.
HEADLINES = (
    ("accuracy.counter.constant.0.1s", "RAPL counter, 40 W, 0.1 s window: |error|"),
    ("accuracy.counter.constant.1s", "RAPL counter, 40 W, 1 s window: |error|"),
    ("accuracy.counter.constant.10s", "RAPL counter, 40 W, 10 s window: |error|"),
    ("accuracy.counter.square.1s", "RAPL counter, 2/30 W square wave, 1 s: |error|"),
    ("accuracy.counter.wrap.1s", "RAPL counter wrapping 5× in a 1 s window: |error|"),
    ("accuracy.counter.wrap.10s", "RAPL counter wrapping 5× in a 10 s window: |error|"),
    ("accuracy.gpu_counter.step.1s", "GPU energy counter, 100→300 W step, 1 s: |error|"),
    ("accuracy.gpu_power_only.steady.1s", "GPU power only, steady 100 W, 1 s: |error|"),
    ("accuracy.gpu_power_only.ripple.1s", "GPU power only, 100 W ±1 % ripple, 1 s: |error|"),
    ("accuracy.gpu_power_only.step.1s", "GPU power only, 100→300 W step, 1 s: |error|"),
    ("accuracy.gpu_power_only.square_0.022s.2s", "GPU power only, square wave, 22 ms period"),
    ("accuracy.gpu_power_only.square_1.1s.2s", "GPU power only, square wave, 1.1 s period"),
    ("cost.install_size", "install size, with dependencies"),
    ("cost.import", "import time added"),
    ("cost.start.first", "start → first measurement, first in a process"),
    ("cost.start.warm", "start → first measurement, later"),
    ("cost.sampler_cpu", "background CPU, RAPL only (% of a core)"),
    ("cost.sampler_cpu.gpu_power_only", "background CPU, power-only GPU (% of a core)"),
    ("cost.phase_block", "a phase / nested window: enter + exit"),
    ("cost.rss", "RSS growth"),
    ("robustness.no_sensor", "no sensor at all"),
    ("robustness.unreadable_rapl", "RAPL unreadable (not root)"),
    ("robustness.no_network", "no network"),
    ("cost.attribution.phases", "training step overhead, phases (jouleflow only)"),
    ("cost.attribution.layers", "training step overhead, + layers (jouleflow only)"),
    ("store.sample_write", "run store: time per sample (jouleflow only)"),
)

HOW_TO_READ = """\
**How to read it.** No machine here has a readable power sensor, so every figure is measured on
`jouleflow.testing`'s simulators: a fake powercap tree whose `energy_uj` counters a simulator
process rewrites every 1 ms from a known power trace, and a simulated `libnvidia-ml.so.1` loaded
through the real nvidia-ml-py. Their ground truth is exact. The fake trees live in `/dev/shm`
(sysfs is in memory too) and the simulator process runs at real-time priority where allowed, so
that its counters are as fresh as hardware's (updated every ~1 ms) whatever else the machine runs.
Ratios are against a baseline measured in the same run, never against a number from another day;
jouleflow's targets are from issue 2.

- *jouleflow's column* comes from jouleflow's own scripts (`bench/*.py`). *Accuracy*: |error| of
  `track()` against the truth over the run's own window, median and worst ("max") of the
  repetitions, judged on the worst; its baseline is the counter's own floor. *Cost*: medians,
  judged on the median; "run store on" is `track()`'s default, "off" (`db=False`) is the
  measurement core alone.
- *The peers' columns* come from `bench/peers/`: CodeCarbon and Zeus, each with its defaults and
  with its documented best settings ("best"; Zeus's only setting, `approx_instant_energy`, changes
  GPU windows alone, so its CPU rows say "= default"). Each cell is the median (and the worst of
  the repetitions) and, after "·", the ratio to **jouleflow measured by the same harness in the
  same windows** (the baseline in the details), not to jouleflow's column: the peers' harness
  counts an error against the energy between the instant the tool's start call returned and the
  instant its stop call was made, the energy of the code the user wrapped, for every tool alike.
  "n/a" says why a tool has no figure for a case.
- Wall-clock figures (import, start, phase mark) move with the machine's load; the load average
  is in the machine line. jouleflow's modules are measured compiled to bytecode, as `pip install`
  leaves them (bench/_common.py compiles them first: a shell with PYTHONDONTWRITEBYTECODE would
  otherwise compile them from source at every import). CPU-time and RSS figures belong to the
  measured process alone (the peers' include the helper processes they start).
"""

HOW_PEERS_RUN = """\
## How the peers are run

`python bench/run_all.py` installs the latest CodeCarbon and Zeus from PyPI into their own virtual
environments under `bench/.peers-venv/` (git-ignored; made on the first run and reused:
`--refresh-peers` makes them again), and jouleflow with its `nvidia` extra into a third, for the
install sizes. Each tool then runs as an agent process (`bench/peers/agent.py`) under its own
environment's interpreter, driven by a harness under jouleflow's (`bench/peers/accuracy.py`,
`cost.py`, `robustness.py`), through the tool's public API.

**The same simulated sensors.** CodeCarbon and Zeus read `/sys/class/powercap` and take no other
path, so every agent runs in a private mount and network namespace (`bench/peers/sandbox.py`;
root is needed, as for reading RAPL anyway):

```sh
unshare -m -n --propagation private sh -c '
  mount --bind /sys/class "$saved"                # keep the real classes
  mount -t tmpfs -o mode=755 jouleflow-bench /sys/class
  for d in "$saved"/*; do ...; mount --bind "$d" /sys/class/${d##*/}; done   # all but powercap
  ln -s "$tree/class/powercap" /sys/class/powercap   # the simulated tree, in /dev/shm
  exec python bench/peers/agent.py ...'
```

The simulator process outside the namespace keeps rewriting the tree's counters, so every tool
(jouleflow included, at its default root) reads the same files at the same time; the tree gets
the `subsystem` links the kernel makes (CodeCarbon looks for RAPL at
`/sys/class/powercap/intel-rapl/subsystem`). For GPUs, `LD_LIBRARY_PATH` names a folder whose
`libnvidia-ml.so.1` is jouleflow's simulated NVML linked with `bench/peers/nvml_extras.c` (the
architecture, memory, temperature, utilisation, limits and process queries the peers make while
setting a GPU up, answered with constants; energy and power come from the simulation alone), and
`PATH` a stub `nvidia-smi` (CodeCarbon looks for NVIDIA GPUs only where `nvidia-smi --help`
runs). nvidia-ml-py loads `CDLL("libnvidia-ml.so.1")`, which finds it there.

**No network.** The namespace has no interface up: a connection attempt fails at once and nothing
leaves the machine. CodeCarbon's defaults try its location (get.geojs.io, ipinfo.io) and cloud
metadata (169.254.169.254) at every start; with a network that drops packets instead, each try
would wait for its time-out (0.5–1 s). The "no network" rows list what each tool tried.

**Windows.** All agents of a run are started together; the harness opens everyone's window one
agent after another (`begin`, waiting for each answer), sleeps, and closes them the same way, so
that no tool's start or stop competes with another's for the two cores. A CodeCarbon tracker
measures one run, so each window gets a new one, made before the window opens. Zeus polls a
power-only GPU as fast as it can in a helper process (a full core), so its GPU runs are alone.

**What the peers do, read from their source** (the versions above), which the figures show:

- *CodeCarbon, RAPL*: the counter's difference between measurements (at `start()`, every
  `measure_power_secs`, at `stop()`), one wraparound corrected per interval (more are lost). At
  `stop()` the last measurement is skipped when the previous one is under 50 ms old, and the
  energy since then is lost: with `measure_power_secs=1` a 1 s window often ends that way.
- *CodeCarbon, GPU without an energy counter*: the mean of `nvmlDeviceGetPowerUsage` (the
  board's 1 s trailing average) sampled once a second, times the interval.
- *CodeCarbon, no readable sensor*: CPU power from a TDP table (4 W a thread for an unknown CPU)
  times the load, said in log warnings only; the result (`EmissionsData`) has no field that says
  a figure is estimated. RAM is always an estimate (a power per GB).
- *Zeus, RAPL*: the counter's difference between `begin_window` and `end_window`; wraparounds are
  counted by one helper process per counter, which polls every 1 s (0.1 s within 100 J of the
  top): a wrap shortly before a read is missed until the next poll. Without permission to read
  RAPL, `ZeusMonitor` leaves the CPU out and says nothing at WARNING.
- *Zeus, GPU without an energy counter*: a helper process polls the power (the inferred update
  period starts from 0.0, so it polls without pause) and keeps a reading only when it differs from
  the previous one; a window's energy is the trapezoid over the readings inside it, 0 J when there
  are fewer than two (`approx_instant_energy=True` then uses the power × the duration). The
  simulated board's power is exactly flat between changes, so at steady power Zeus keeps no
  reading; a real board's reading jitters at every update, which the ±1 % ripple case imitates.
"""


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _cell(figure: Figure | None) -> str:
    if figure is None:
        return "—"
    text = value_text(figure)
    if figure.ratio is not None and not figure.text:
        text += f" · {fmt_ratio(figure.ratio)}"
    return text


def _by_key(figures: Sequence[Figure]) -> dict[str, dict[str, Figure]]:
    by_key: dict[str, dict[str, Figure]] = {}
    for f in figures:
        by_key.setdefault(f.key, {})[f.tool] = f
    return by_key


def summary_table(
    figures: Sequence[Figure], peers: Sequence[str], rows: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    header = ["figure", "jouleflow", *peers, "target", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_key = _by_key(figures)
    for key, short in rows if rows is not None else [(k, "") for k in by_key]:
        tools = by_key.get(key)
        if not tools:
            continue
        own = tools.get("jouleflow")
        first = own or next(iter(tools.values()))
        cells = [short or first.title, value_text(own) if own else "—"]
        for peer in peers:
            default = tools.get(peer.replace(" (best)", "")) if peer.endswith("(best)") else None
            cells.append(
                _cell(tools.get(peer)) if peer in tools else "= default" if default else "—"
            )
        cells += [target_text(own) if own else "—", verdict(own) if own else "—"]
        cells = [{"FAIL": "**FAIL**"}.get(c, c) for c in cells]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return lines


def _versions(records: dict[str, Any]) -> str:
    parts = []
    for name in ("codecarbon", "zeus"):
        record = records.get(name, {})
        label = harness.LABELS[name]
        if "version" in record:
            parts.append(f"{label} {record['version']} (PyPI, installed {record['installed']})")
        elif record:
            parts.append(f"{label}: not installed ({record.get('error', '?')[:120]})")
    return "; ".join(parts)


def render(
    outcomes: Sequence[Outcome],
    mode: str,
    host: dict[str, str],
    load: tuple[float, float],
    only: Sequence[str] = (),
    records: dict[str, Any] | None = None,
    peers_skipped: str = "",
) -> str:
    figures = [f for o in outcomes for f in o.figures]
    present = {f.tool for f in figures}
    peers = [p for p in PEER_COLUMNS if p in present or p.replace(" (best)", "") in present]
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
        "editing this file. Each script in `bench/` and `bench/peers/` also runs alone and prints "
        "its figures.",
        "",
        f"**Machine:** {host['cpu']}, {host['cores']} cores; {host['python']}; {host['os']}; "
        f"jouleflow {host['jouleflow']}. Load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end.",
        "",
    ]
    if records:
        lines += [f"**Peers:** {_versions(records)}; settings below the table.", ""]
    if peers_skipped:
        lines += [f"**Peers not run:** {peers_skipped}", ""]
    lines += [
        "## Summary",
        "",
        "Medians, with the worst repetition in brackets; after “·”, the ratio to jouleflow "
        "measured alongside (see *How to read it*).",
        "",
        *summary_table(figures, peers, HEADLINES),
        "",
        f"jouleflow: {passed} of {len(judged)} targets met."
        + (f" Missed: {'; '.join(failed)}." if failed else ""),
        "",
    ]
    if peers:
        lines += [
            "**Settings.** "
            + "; ".join(
                f"{harness.LABELS[t]}: {harness.SETTINGS[t]}"
                for t in ("codecarbon", "codecarbon-best", "zeus", "zeus-best")
            )
            + ".",
            "",
        ]
        missing = [f for f in figures if f.text.startswith("n/a")]
        if missing:
            lines += ["**Where a peer has no figure, and why:**", ""]
            lines += [
                f"- {f.tool}, {f.title}: {f.details[0] if f.details else f.text}" for f in missing
            ]
            lines.append("")
    lines += [HOW_TO_READ]
    if peers:
        lines += [HOW_PEERS_RUN]
    lines += ["## All figures", "", *summary_table(figures, peers), ""]
    broken = [o for o in outcomes if o.error]
    if broken:
        lines += ["## Scripts that did not report", ""]
        for o in broken:
            lines += [f"**{o.script}** ({o.tool}), exit code {o.returncode}:", "", "```"]
            lines += [o.error, "```", ""]
    lines += ["## Details", ""]
    groups = {"accuracy": "Accuracy", "cost": "Cost", "robustness": "Robustness"}
    by_key = _by_key(figures)
    for group in [*groups, *sorted({f.group for f in figures} - set(groups))]:
        keys = [k for k, tools in by_key.items() if next(iter(tools.values())).group == group]
        if not keys:
            continue
        lines += [f"### {groups.get(group, group.title() or 'Other')}", ""]
        for key in keys:
            for f in by_key[key].values():
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
    total = sum(o.wall_s for o in outcomes)
    lines += ["", f"Total {total / 60:.1f} min of scripts.", ""]
    for entry in TOOLS:
        lines.append(f"- {entry.name}: `{entry.python}`, {entry.setup}.")
    for name, record in (records or {}).items():
        if "python" in record:
            lines.append(
                f"- {name} {record['version']}: `{record['python']}` ({record['requirement']})."
            )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about three minutes")
    size.add_argument("--long", action="store_true", help="add 60 s windows and longer runs")
    parser.add_argument(
        "--out",
        default=str(REPO_ROOT / "docs" / "benchmarks.md"),
        help="where to write the report ('-' for stdout; default docs/benchmarks.md)",
    )
    parser.add_argument("--only", nargs="*", metavar="SCRIPT", help="run only these scripts")
    parser.add_argument("--no-peers", action="store_true", help="jouleflow's own figures only")
    parser.add_argument(
        "--refresh-peers", action="store_true", help="reinstall the peers (latest releases)"
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "long" if args.long else "default"
    host = machine()
    tools = [t for t in TOOLS if t is not PEERS or not args.no_peers]
    records: dict[str, Any] = {}
    peers_skipped = "--no-peers" if args.no_peers else ""
    if PEERS in tools:
        peers_skipped = sandbox.available() or ""
        if peers_skipped:
            tools.remove(PEERS)
        else:
            print("=== the peers' environments ===", flush=True)
            records = venvs.ensure_all(refresh=args.refresh_peers)
    load_start = os.getloadavg()[0]
    begin = time.monotonic()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="jouleflow-bench-") as scratch:
        for tool in tools:
            for script in tool.scripts:
                if args.only and script.file not in args.only:
                    continue
                outcome = run_script(tool, script, mode, Path(scratch))
                if outcome is not None:
                    outcomes.append(outcome)
    load = (load_start, os.getloadavg()[0])
    report = render(outcomes, mode, host, load, args.only or (), records, peers_skipped)
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
