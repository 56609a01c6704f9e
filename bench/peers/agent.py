"""One tool measuring, in its own process and its own environment: what the peer harness drives.

Runs under the interpreter of the tool's virtual environment (jouleflow's, CodeCarbon's or
Zeus's), so it imports nothing from the benchmark and only the standard library besides the tool.
Every tool is used through its public API the way its documentation shows, behind one small
adapter: ``prepare`` (make what the next window needs: a new CodeCarbon tracker, the ZeusMonitor
once), ``begin``, ``end`` (the energy per part: ``cpu`` for RAPL package 0, ``dram``, ``gpu0``...).

    python agent.py serve TOOL       # JSON commands on stdin, one JSON answer per line on stdout
    python agent.py start TOOL N     # start latency: the first start in this process, then N more
    python agent.py profile TOOL S   # RSS, and background CPU over S seconds of an open window
    python agent.py robust TOOL      # one 1 s window; what happened, whatever happened
    python agent.py overhead TOOL N  # N empty windows (or phases) inside a running measurement

TOOL is ``jouleflow``, ``codecarbon``, ``codecarbon-best``, ``zeus`` or ``zeus-best``. The tool's
own output (CodeCarbon logs at INFO) goes to stderr; stdout carries only the answers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import warnings
from typing import Any

KWH_J = 3_600_000.0
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


# -- what the process sees of itself -------------------------------------------------------------
def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def descendants(pid: int | None = None) -> list[int]:
    """Every live process below ``pid`` (this one by default), helpers of helpers included."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent_of[int(entry)] = int(fields[1])
            except OSError:
                continue
    found, frontier = [], [pid or os.getpid()]
    while frontier:
        here = frontier.pop()
        kids = [p for p, pp in parent_of.items() if pp == here]
        found += kids
        frontier += kids
    return found


def tree_cpu_s() -> float:
    """CPU seconds of this process, its reaped children and its live descendants."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + children.ru_utime + children.ru_stime
    for pid in descendants():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
        except OSError:
            continue
    return total


def helpers_rss_mb() -> float:
    total = 0.0
    for pid in descendants():
        try:
            total += rss_mb(pid)
        except OSError:
            continue
    return total


# -- what the tool says besides its numbers ------------------------------------------------------
class Said(logging.Handler):
    """Log records at WARNING or above, and Python warnings: what a user would be told."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"log {record.levelname}: {record.getMessage()}"[:300])

    def warn(self, message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        self.lines.append(f"{category.__name__}: {message}"[:300])


NETWORK: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        NETWORK.append(f"connect {args[1]!r}"[:120])
    elif event == "socket.getaddrinfo":
        NETWORK.append(f"resolve {args[0]!r}"[:120])


# -- the adapters --------------------------------------------------------------------------------
class Jouleflow:
    """``jouleflow.track()``, defaults (sensors where they are), the run store off."""

    def __init__(self, best: bool = False) -> None:
        import jouleflow

        self.jouleflow = jouleflow
        self.run: Any = None

    def prepare(self) -> None:
        pass

    def begin(self) -> None:
        self.run = self.jouleflow.track(db=False).start()

    def end(self) -> dict[str, Any]:
        result = self.run.stop()
        parts, labels = {}, {}
        for c in result.components:
            part = {"rapl:package-0": "cpu", "rapl:package-0:dram": "dram"}.get(c.id)
            if part is None and c.id.startswith("nvml:"):
                part = "gpu" + c.id.split(":")[1]
            if part is None and c.kind.value.startswith("cpu") and c.method.value == "estimate":
                part = "cpu"
            if part is not None:
                parts[part] = c.energy_j
                labels[part] = f"{c.method.value} ({c.source})"
        return {
            "parts": parts,
            "labels": labels,
            "warnings": list(result.warnings)[:4],
            "window_ns": list(result.window_ns),
        }

    def mark(self) -> Any:
        return self.run.phase("x")

    def close(self) -> None:
        pass


class CodeCarbon:
    """``EmissionsTracker()`` with its defaults, or the documented settings for precise figures.

    Best: ``OfflineEmissionsTracker(country_iso_code=..., measure_power_secs=1,
    output_methods=[])``: no network look-up of the location, a measurement every second (its
    power monitor's own rate; the default is 15 s), no CSV written. A tracker measures one run,
    so every window gets a new one, made in ``prepare`` (outside the window).
    """

    def __init__(self, best: bool = False) -> None:
        import codecarbon

        self.codecarbon = codecarbon
        self.best = best
        self.gpu_ids = os.environ.get("BENCH_GPU_IDS")
        self.tracker: Any = None

    def prepare(self) -> None:
        options: dict[str, Any] = {}
        if self.gpu_ids:
            options["gpu_ids"] = [int(i) for i in self.gpu_ids.split(",")]
        if self.best:
            self.tracker = self.codecarbon.OfflineEmissionsTracker(
                country_iso_code="FRA",
                measure_power_secs=1,
                output_methods=[],
                log_level="warning",
                **options,
            )
        else:
            self.tracker = self.codecarbon.EmissionsTracker(**options)

    def begin(self) -> None:
        if self.tracker is None:
            self.prepare()
        self.tracker.start()

    def end(self) -> dict[str, Any]:
        tracker, self.tracker = self.tracker, None
        tracker.stop()
        data = getattr(tracker, "final_emissions_data", None)
        if data is None:
            return {"parts": {}, "labels": {}, "note": "stop() left no emissions data"}
        parts = {"cpu": data.cpu_energy * KWH_J, "ram": data.ram_energy * KWH_J}
        if getattr(data, "gpu_count", 0) or data.gpu_energy:
            parts["gpu0"] = data.gpu_energy * KWH_J
        modes = [
            f"{type(h).__name__}:{getattr(h, '_mode', '')}"
            for h in getattr(tracker, "_hardware", [])
        ]
        return {"parts": parts, "labels": {"cpu": ", ".join(modes)}}

    def mark(self) -> Any:
        tracker = self.tracker

        class Task:
            def __enter__(self) -> None:
                tracker.start_task("x")

            def __exit__(self, *exc: Any) -> None:
                tracker.stop_task("x")

        return Task()

    def close(self) -> None:
        if self.tracker is not None and getattr(self.tracker, "_start_time", None):
            self.tracker.stop()


class Zeus:
    """``ZeusMonitor()`` (best: ``approx_instant_energy=True``), one window at a time.

    ``sync_execution=False``: there is no CUDA work to wait for (and without PyTorch the default
    ``True`` raises).
    """

    def __init__(self, best: bool = False) -> None:
        from zeus.monitor import ZeusMonitor

        self.factory = ZeusMonitor
        self.best = best
        self.monitor: Any = None
        self.count = 0

    def prepare(self) -> None:
        if self.monitor is None:
            self.monitor = self.factory(approx_instant_energy=self.best)

    def begin(self) -> None:
        self.prepare()
        self.count += 1
        self.monitor.begin_window(f"w{self.count}", sync_execution=False)

    def end(self) -> dict[str, Any]:
        m = self.monitor.end_window(f"w{self.count}", sync_execution=False)
        parts: dict[str, float] = {}
        labels: dict[str, str] = {}
        if m.cpu_energy:
            parts["cpu"] = m.cpu_energy.get(0, 0.0)
            labels["cpu"] = "RAPL"
        if m.dram_energy:
            parts["dram"] = m.dram_energy.get(0, 0.0)
        for index, joules in (m.gpu_energy or {}).items():
            parts[f"gpu{index}"] = joules
        return {"parts": parts, "labels": labels}

    def mark(self) -> Any:
        agent = self

        class Window:
            def __enter__(self) -> None:
                agent.monitor.begin_window("x", sync_execution=False)

            def __exit__(self, *exc: Any) -> None:
                agent.monitor.end_window("x", sync_execution=False)

        return Window()

    def close(self) -> None:
        pass


ADAPTERS = {
    "jouleflow": (Jouleflow, False),
    "codecarbon": (CodeCarbon, False),
    "codecarbon-best": (CodeCarbon, True),
    "zeus": (Zeus, False),
    "zeus-best": (Zeus, True),
}


def make(tool: str) -> Any:
    cls, best = ADAPTERS[tool]
    return cls(best)


# -- the modes -----------------------------------------------------------------------------------
def _error() -> str:
    return "".join(traceback.format_exc().strip().splitlines(keepends=True)[-3:])[-600:]


def serve(tool: str, out: Any) -> None:
    def answer(data: dict[str, Any]) -> None:
        out.write(json.dumps(data) + "\n")
        out.flush()

    try:
        adapter = make(tool)
    except Exception:
        answer({"ready": False, "error": _error()})
        return
    answer({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "quit":
                adapter.close()
                answer({"ok": True})
                return
            if op == "prepare":
                adapter.prepare()
                answer({"ok": True})
            elif op == "begin":
                before = time.monotonic_ns()
                adapter.begin()
                answer({"before": before, "after": time.monotonic_ns()})
            elif op == "end":
                before = time.monotonic_ns()
                got = adapter.end()
                answer({"before": before, "after": time.monotonic_ns(), **got})
            elif op == "cpu":  # background CPU over an open window
                adapter.prepare()
                adapter.begin()
                time.sleep(float(command.get("warm_s", 1.0)))
                cpu, wall = tree_cpu_s(), time.monotonic()
                time.sleep(float(command["seconds"]))
                cpu, wall = tree_cpu_s() - cpu, time.monotonic() - wall
                adapter.end()
                answer({"cpu_s": cpu, "wall_s": wall})
            else:
                answer({"error": f"unknown op {op}"})
        except Exception:
            answer({"error": _error()})


def start(tool: str, warm_calls: int) -> dict[str, Any]:
    """The first start in a fresh process (after the tool's import), then later ones."""
    begin = time.perf_counter_ns()
    adapter = make(tool)
    adapter.prepare()
    adapter.begin()
    first_ms = (time.perf_counter_ns() - begin) / 1e6
    adapter.end()
    warm = []
    for _ in range(warm_calls):
        begin = time.perf_counter_ns()
        if tool.startswith("codecarbon"):
            adapter.prepare()  # a tracker measures one run: a new start is a new tracker
        adapter.begin()
        warm.append((time.perf_counter_ns() - begin) / 1e6)
        adapter.end()
    adapter.close()
    return {"first_ms": first_ms, "warm_ms": sorted(warm)[len(warm) // 2] if warm else None}


def overhead(tool: str, marks: int) -> dict[str, Any]:
    """Per empty window (Zeus), task (CodeCarbon) or phase (jouleflow) inside a running one."""
    adapter = make(tool)
    adapter.prepare()
    adapter.begin()
    for _ in range(min(marks, 20)):  # warm up
        with adapter.mark():
            pass
    batches = []
    per_batch = max(marks // 5, 1)
    for _ in range(5):
        begin = time.perf_counter_ns()
        for _ in range(per_batch):
            with adapter.mark():
                pass
        batches.append((time.perf_counter_ns() - begin) / per_batch / 1e3)
    adapter.end()
    adapter.close()
    return {"per_mark_us": sorted(batches)[2], "batches_us": batches, "marks": per_batch * 5}


def profile(tool: str, seconds: float) -> dict[str, Any]:
    """RSS before and after the import and after a run of ``seconds``; CPU over that run."""
    before = rss_mb()
    adapter = make(tool)
    imported = rss_mb()
    idle_cpu = tree_cpu_s()
    time.sleep(1.0)
    idle_cpu = tree_cpu_s() - idle_cpu
    adapter.prepare()
    adapter.begin()
    time.sleep(3.0)  # helpers (Zeus's wraparound poller: a new interpreter) start up
    cpu, wall = tree_cpu_s(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = tree_cpu_s() - cpu, time.monotonic() - wall
    helpers = helpers_rss_mb()
    helper_count = len(descendants())
    got = adapter.end()
    after = rss_mb()
    adapter.close()
    return {
        "before_mb": before,
        "imported_mb": imported,
        "after_mb": after,
        "helpers_mb": helpers,
        "helpers": helper_count,
        "cpu_s": cpu,
        "wall_s": wall,
        "idle_cpu_pct": idle_cpu * 100,
        "parts": got.get("parts", {}),
    }


def robust(tool: str) -> dict[str, Any]:
    """One 1 s window under whatever the sandbox set up; every outcome is data."""
    said = Said()
    for name in ("", "codecarbon", "zeus", "jouleflow"):  # CodeCarbon's logger does not propagate
        logging.getLogger(name).addHandler(said)
    warnings.showwarning = said.warn
    warnings.simplefilter("always")
    out: dict[str, Any] = {"stage": "import"}
    begin = time.monotonic()
    try:
        adapter = make(tool)
        out["stage"] = "start"
        adapter.prepare()
        adapter.begin()
        out["start_s"] = time.monotonic() - begin
        time.sleep(1.0)
        out["stage"] = "stop"
        got = adapter.end()
        out.update(got)
        out["stage"] = "done"
        adapter.close()
    except BaseException as err:
        out["crash"] = f"{type(err).__name__}: {err}"[:400]
    out["said"] = said.lines[:12]
    out["network"] = sorted(set(NETWORK))[:8]
    out["elapsed_s"] = time.monotonic() - begin
    return out


def main() -> None:
    mode, tool = sys.argv[1], sys.argv[2]
    sys.addaudithook(_audit)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the tool's own prints go to stderr with its logs
    if mode == "serve":
        serve(tool, out)
        return
    if mode == "start":
        result = start(tool, int(sys.argv[3]))
    elif mode == "profile":
        result = profile(tool, float(sys.argv[3]))
    elif mode == "robust":
        result = robust(tool)
    elif mode == "overhead":
        result = overhead(tool, int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    out.write(json.dumps(result) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
