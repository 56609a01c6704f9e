"""How long ``track().start()`` takes until the run holds its first reading.

``start()`` returns once every sensor is probed and opened and the zero reading is in the
timeline (window and phase energies are measurable from then on), so the figure is the wall time
of ``jouleflow.track(...).start()``, with default settings on a simulated one-socket powercap tree
(package, core, DRAM; the simulator runs in another process). It is taken in fresh processes:

- the first call in a process, after ``import jouleflow`` (it also loads the sensor modules);
- later calls in the same process (median of 20);
- the first call with the run store on (``track()``'s default: the run is saved to SQLite),
  here in a scratch file.

Baseline: reading the same three ``energy_uj`` files once directly (open, read, close), in the same
process.

    .venv/bin/python bench/start_latency.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    Figure,
    child_command,
    finish,
    fmt,
    has_store,
    median,
    parse_args,
    run_child_json,
    scratch_dir,
    simulated_socket,
    store_option,
    use_scratch_store,
)

PROCESSES = {"quick": 4, "default": 10, "long": 20}
WARM_CALLS = 20
TARGET_MS = 20.0


def _read_once(paths: Sequence[bytes]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            int(os.read(fd, 32))
        finally:
            os.close(fd)


def child(root: str, options: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh process: the first start, later starts, and the baseline.

    The first call pays for loading ``jouleflow.tracker`` and the sensor modules, which
    ``import jouleflow`` leaves for it; that is timed on its own too.
    """
    import jouleflow

    begin = time.perf_counter_ns()
    import jouleflow.tracker  # what the first attribute access `jouleflow.track` does

    loaded = time.perf_counter_ns()
    run = jouleflow.track(powercap_root=root, **options).start()
    first_ms = (time.perf_counter_ns() - begin) / 1e6
    load_ms = (loaded - begin) / 1e6
    assert len(run.timeline) == 1, "start() returned without its first reading"
    domains = [d.id for d in run.domains]
    run.stop()
    warm = []
    for _ in range(WARM_CALLS):
        begin = time.perf_counter_ns()
        run = jouleflow.track(powercap_root=root, **options).start()
        warm.append((time.perf_counter_ns() - begin) / 1e6)
        run.stop()
    paths = [os.fsencode(p) for p in sorted(Path(root).glob("intel-rapl:*/energy_uj"))]
    direct = []
    for _ in range(50):
        begin = time.perf_counter_ns()
        _read_once(paths)
        direct.append((time.perf_counter_ns() - begin) / 1e6)
    return {
        "first_ms": first_ms,
        "load_ms": load_ms,
        "warm_ms": median(warm),
        "direct_ms": median(direct),
        "files": len(paths),
        "domains": domains,
    }


def measure(processes: int) -> list[Figure]:
    store_modes = [False, True] if has_store() else [False]
    results: dict[bool, list[dict[str, Any]]] = {mode: [] for mode in store_modes}
    with scratch_dir() as tmp, simulated_socket(Path(tmp)) as root:
        use_scratch_store(Path(tmp))
        for n in range(processes):
            for store in store_modes:
                options = store_option(store, Path(tmp) / f"start-{n}.db")
                command = child_command(
                    "start_latency.py", "--child", str(root), json.dumps(options)
                )
                results[store].append(run_child_json(command))
    off = results[False]
    direct = median([r["direct_ms"] for r in off])
    files = off[0]["files"]
    base: dict[str, Any] = {
        "baseline": direct,
        "baseline_label": f"reading the same {files} energy_uj files once directly",
        "ratio_label": "start ÷ one direct read of the counters",
        "target": TARGET_MS,
        "unit": "ms",
        "group": "cost",
    }
    first = [r["first_ms"] for r in off]
    warm = [r["warm_ms"] for r in off]
    domains = ", ".join(off[0]["domains"])
    figures = [
        Figure(
            key="cost.start.first",
            title="track() start → first reading, first call in a process",
            value=median(first),
            ratio=median(first) / direct,
            details=[
                f"{processes} fresh processes; each: " + ", ".join(fmt(x) for x in first) + " ms",
                "of which loading jouleflow.tracker and the sensor modules: "
                + ", ".join(fmt(r["load_ms"]) for r in off)
                + " ms",
                f"domains opened: {domains}; default settings (GPUs probed: none here), "
                "run store off",
            ],
            **base,
        ),
        Figure(
            key="cost.start.warm",
            title="track() start → first reading, later calls",
            value=median(warm),
            ratio=median(warm) / direct,
            details=[
                f"median of {WARM_CALLS} calls in each of {processes} processes; per process: "
                + ", ".join(fmt(x) for x in warm)
                + " ms",
            ],
            **base,
        ),
    ]
    if True in results:
        on = results[True]
        first_on = [r["first_ms"] for r in on]
        figures.append(
            Figure(
                key="cost.start.first_with_store",
                title="track() start → first reading, first call, run store on (default)",
                value=median(first_on),
                ratio=median(first_on) / direct,
                details=[
                    f"{processes} fresh processes; each: "
                    + ", ".join(fmt(x) for x in first_on)
                    + " ms",
                    "later calls with the store on: "
                    f"{fmt(median([r['warm_ms'] for r in on]))} ms (median)",
                ],
                **base,
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        root, options = sys.argv[2:4]
        print(json.dumps(child(root, json.loads(options))))
        return
    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(PROCESSES[args.mode]), args)


if __name__ == "__main__":
    main()
