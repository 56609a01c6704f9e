"""What every benchmark script shares: the figure record, the command line, the printed table.

Each script measures jouleflow against a baseline taken in the same run (same process, or the
same command beside it) and reports ``Figure`` records: printed as a table, and written as JSON
with ``--json PATH`` for ``run_all.py``, which merges every script's figures into
docs/benchmarks.md.

A figure's ``key`` names *what* is measured, not by which tool (``accuracy.counter.constant.1s``,
``cost.import``), so a peer tool's script (CodeCarbon, Zeus: issue 7) reports under the same keys
with its own ``tool`` and lands next to jouleflow's row. Targets are upper bounds in the figure's
unit; a figure with ``worst`` set (accuracy: the largest error over the repetitions) is judged on
it, any other on its median ``value``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psutil

    from jouleflow.testing import FakePowercapTree, PowercapSimulator, PowerTrace

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def _as_installed() -> None:
    """Measure jouleflow with its bytecode compiled, as ``pip install`` leaves it.

    A development shell may set PYTHONDONTWRITEBYTECODE (this one does), and every import of
    jouleflow's modules would then compile them from source: import and first-start figures
    two to three times what users see. Compile them once, and let child processes read them.
    """
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(REPO_ROOT / "src" / "jouleflow"), quiet=2)


_as_installed()
MODES = ("quick", "default", "long")


@dataclass
class Figure:
    key: str  # what is measured, the same for every tool
    title: str  # one line, for the summary table
    unit: str  # of value, baseline, worst and target
    value: float  # the headline: a median
    baseline: float | None = None
    baseline_label: str = ""  # what the baseline is, in a few words
    ratio: float | None = None
    ratio_label: str = "value ÷ baseline"
    target: float | None = None  # upper bound in ``unit``; None: reported, not judged
    worst: float | None = None  # the worst repetition; judged instead of ``value`` when set
    details: list[str] = field(default_factory=list)
    group: str = ""  # section of the report
    tool: str = "jouleflow"
    text: str = ""  # shown instead of the number: an outcome in words, or why there is none

    @property
    def has_value(self) -> bool:
        return self.value == self.value  # not NaN

    @property
    def judged(self) -> float:
        return self.worst if self.worst is not None else self.value

    @property
    def passed(self) -> bool | None:
        if self.target is None or not self.has_value:
            return None
        return self.judged <= self.target

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        return cls(**data)


# -- the command line ---------------------------------------------------------------------------
def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer and shorter repetitions")
    size.add_argument("--long", action="store_true", help="add the long (60 s) windows")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    args.mode = "quick" if args.quick else "long" if args.long else "default"
    return args


def finish(figures: Sequence[Figure], args: argparse.Namespace) -> None:
    """Print the figures; write them as JSON when asked."""
    print_table(figures)
    if args.json:
        Path(args.json).write_text(json.dumps([f.to_dict() for f in figures], indent=1))


# -- numbers and words --------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt(value: float | None, unit: str = "") -> str:
    """A number to about three significant figures, with its unit."""
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude < 1e-9:  # floating-point dust: exact in all but the last bits
        text = "0"
    elif magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.2g}"
    return f"{text} {unit}".strip() if unit else text


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    if abs(ratio) < 1e-9:
        return "0×"
    return f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.2g}×"


def verdict(figure: Figure) -> str:
    return {None: "info", True: "pass", False: "FAIL"}[figure.passed]


def value_text(figure: Figure) -> str:
    if figure.text:
        return figure.text
    text = fmt(figure.value, figure.unit)
    if figure.worst is not None:
        text += f" (max {fmt(figure.worst, figure.unit)})"
    return text


def target_text(figure: Figure) -> str:
    return "—" if figure.target is None else f"≤ {fmt(figure.target, figure.unit)}"


def summary_rows(figures: Sequence[Figure]) -> list[list[str]]:
    header = ["figure", "jouleflow", "baseline", "ratio", "target", "result"]
    rows = [header]
    for f in figures:
        name = f.title if f.tool == "jouleflow" else f"{f.title} [{f.tool}]"
        rows.append(
            [
                name,
                value_text(f),
                fmt(f.baseline, f.unit) if f.baseline is not None else "—",
                fmt_ratio(f.ratio),
                target_text(f),
                verdict(f),
            ]
        )
    return rows


def print_summary(figures: Sequence[Figure]) -> None:
    rows = summary_rows(figures)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def print_table(figures: Sequence[Figure]) -> None:
    """The summary, then each figure's baseline and details."""
    print_summary(figures)
    for f in figures:
        if f.details or f.baseline_label:
            print(f"\n{f.title}")
            if f.baseline_label:
                print(f"  baseline: {f.baseline_label}; ratio: {f.ratio_label}")
            for line in f.details:
                print(f"  {line}")
    sys.stdout.flush()


# -- the machine --------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    try:
        import psutil

        physical = str(psutil.cpu_count(logical=False) or "?")
    except ImportError:
        physical = "?"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    from jouleflow import __version__

    return {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {physical} physical",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "jouleflow": f"{__version__} ({commit or 'no git'})",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- scratch space and the simulated socket ------------------------------------------------------
def scratch_dir(prefix: str = "jouleflow-bench-") -> tempfile.TemporaryDirectory[str]:
    """A temporary folder in memory (``/dev/shm``) where there is one, else the usual one.

    sysfs lives in memory; a fake tree on a disk file system is rewritten every millisecond
    through the journal, which now and then stalls the simulator for milliseconds and makes
    the simulated counters staler than real ones.
    """
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=str(shm) if memory else None)


# -- the simulated socket the cost benchmarks measure -------------------------------------------
SOCKET_WATTS = {"intel-rapl:0": 40.0, "intel-rapl:0:0": 25.0, "intel-rapl:0:1": 6.0}


def _simulator_processes() -> dict[int, psutil.Process]:
    """The simulator children this process has started (``PowercapSimulator(process=True)``)."""
    import psutil

    found = {}
    for child in psutil.Process().children():
        try:
            if any("jouleflow.testing.powercap" in part for part in child.cmdline()):
                found[child.pid] = child
        except psutil.Error:
            continue
    return found


@contextmanager
def running_simulator(
    tree: FakePowercapTree,
    traces: Mapping[str, PowerTrace],
    initial_uj: Mapping[str, int] | None = None,
) -> Iterator[PowercapSimulator]:
    """``PowercapSimulator`` in its own process (off this interpreter's GIL), always stopped.

    Its process takes real-time priority where allowed (root; ``keep_time_like_hardware``): real
    counters are updated by the hardware whatever the load, while a simulator that waits for a
    CPU leaves its counters stale for milliseconds, and the accuracy figures would measure the
    machine's load.

    It is stopped with SIGKILL rather than SIGTERM: the simulator's SIGTERM handler calls
    ``threading.Event.set()`` from inside a signal handler, which deadlocks when the signal lands
    while the main thread holds the event's lock in ``Event.wait()``, and ``stop()`` then waits
    forever. SIGKILL loses nothing: the process holds no state worth flushing.
    """
    from jouleflow.testing import PowercapSimulator

    before = _simulator_processes()
    sim = PowercapSimulator(tree, traces, initial_uj=initial_uj, process=True).start()
    # This one's process: the new one (several simulators may run at once; peers/accuracy.py).
    child = next((p for pid, p in _simulator_processes().items() if pid not in before), None)
    try:
        yield sim
    finally:
        if child is not None and child.is_running():
            child.kill()
        sim.stop()


@contextmanager
def simulated_socket(base: Path) -> Iterator[Path]:
    """A one-socket powercap tree (package, core, DRAM) at constant power; yields its root."""
    from jouleflow.testing import ConstantPower, single_socket

    tree = single_socket(base)
    with running_simulator(tree, {link: ConstantPower(w) for link, w in SOCKET_WATTS.items()}):
        time.sleep(0.05)
        yield tree.root


def use_scratch_store(folder: Path) -> None:
    """Point every run store this process (and its children) opens at ``folder``.

    ``track()`` records each run in the user's store by default; a benchmark must never write
    there. Figures that measure the measurement core alone pass ``store_option(False)``.
    """
    os.environ["JOULEFLOW_DB"] = str(folder / "bench-runs.db")


def store_option(on: bool, db: Path | None = None) -> dict[str, Any]:
    """``track()`` keywords: the run store off, or on (in ``db``, else the scratch store).

    Empty when this version of ``track()`` has no run store.
    """
    import inspect

    from jouleflow.tracker import track

    if "db" not in inspect.signature(track).parameters:
        return {}
    if not on:
        return {"db": False}
    return {"db": str(db)} if db is not None else {}


def has_store() -> bool:
    return bool(store_option(False))


def child_command(script: str, *args: str) -> list[str]:
    """This interpreter running a bench script with ``args``: a clean process to measure in."""
    return [sys.executable, str(BENCH_DIR / script), *args]


def run_child_json(command: Sequence[str], timeout_s: float = 300) -> Any:
    """Run a child that prints one JSON document as its last line of stdout; return it."""
    done = subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])
