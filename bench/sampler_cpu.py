"""CPU time the background sampler costs, as a share of one core, at the default rate.

In a fresh process (after ``import jouleflow`` and one throw-away run, so that no import is
counted): the process's CPU time (``time.process_time``: all its threads) over a sleep of the
main thread with nothing running (the baseline), then over the same sleep with a ``track()``
running on a simulated one-socket powercap tree whose simulator runs in another process. The
figure is the difference as a percentage of one core: the sampler thread's cost; the run's start
and stop are outside both windows (with the store on, the window opens once the run's store is
attached: it opens on a thread of its own just after the start). Measured with the run store off
(the measurement core) and on (``track()``'s default).

    .venv/bin/python bench/sampler_cpu.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import json
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

SECONDS = {"quick": 3.0, "default": 10.0, "long": 30.0}
TARGET_PCT = 0.1


def _attached(run: Any) -> Any:
    """The run, once its store (if any) is open: the store opens on a thread of its own after
    ``start()``, a once-per-run cost like the start's, not the sampler's."""
    if getattr(run, "db", False) is not False:
        deadline = time.monotonic() + 30
        while run.store_path is None and time.monotonic() < deadline:
            time.sleep(0.005)
    return run


def _cpu_over(seconds: float) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) over a sleep of ``seconds``."""
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return time.process_time() - cpu, time.monotonic() - wall


def _wakeups_pct(seconds: float, interval_s: float) -> float:
    """CPU of a thread that does nothing but wake every ``interval_s`` as the sampler does."""
    import threading

    stop = threading.Event()

    def idle() -> None:
        while not stop.wait(interval_s):
            pass

    thread = threading.Thread(target=idle, daemon=True)
    thread.start()
    cpu, wall = _cpu_over(seconds)
    stop.set()
    thread.join()
    return cpu / wall * 100


def _read_costs_us(root: str) -> dict[str, float]:
    """Median cost of one ``read()`` of each sensor a default run opens here."""
    from jouleflow.config import MeterConfig
    from jouleflow.sensors.discovery import open_sensors

    discovery = open_sensors(MeterConfig(powercap_root=root))
    costs = {}
    try:
        for sensor, _ in discovery.opened:
            times = []
            for _ in range(300):
                begin = time.perf_counter_ns()
                sensor.read()
                times.append((time.perf_counter_ns() - begin) / 1e3)
            costs[sensor.name] = median(times)
    finally:
        discovery.close()
    return costs


def child(root: str, seconds: float, variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import jouleflow

    for options in variants.values():  # load everything: no import is counted below
        _attached(jouleflow.track(powercap_root=root, **options).start()).stop()
    base_cpu, base_wall = _cpu_over(seconds)
    out: dict[str, Any] = {"baseline_pct": base_cpu / base_wall * 100, "variants": {}}
    for name, options in variants.items():
        run = _attached(jouleflow.track(powercap_root=root, **options).start())
        cpu, wall = _cpu_over(seconds)
        result = run.stop()
        out["variants"][name] = {
            "pct": cpu / wall * 100,
            "samples": result.samples,
            "interval_ms": result.sample_interval_s * 1e3,
            "cpu_s": cpu,
            "wall_s": wall,
        }
    out["read_us"] = _read_costs_us(root)
    interval_s = out["variants"]["off"]["interval_ms"] / 1e3
    out["wakeups_pct"] = _wakeups_pct(min(seconds, 5.0), interval_s)
    return out


def measure(seconds: float) -> list[Figure]:
    with scratch_dir() as tmp, simulated_socket(Path(tmp)) as root:
        use_scratch_store(Path(tmp))
        variants = {"off": store_option(False)}
        if has_store():
            variants["on"] = store_option(True, Path(tmp) / "sampler.db")
        data = run_child_json(
            child_command(
                "sampler_cpu.py", "--child", str(root), str(seconds), json.dumps(variants)
            ),
            timeout_s=seconds * 5 + 120,
        )
    base = data["baseline_pct"]
    reads = "; ".join(f"{name} {fmt(us)} µs" for name, us in data["read_us"].items())
    titles = {
        "off": "sampler CPU at the default rate (1 s: counters only), % of one core",
        "on": "sampler CPU, run store on (default), % of one core",
    }
    figures = []
    for name, v in data["variants"].items():
        net = v["pct"] - base
        per_sample_us = v["cpu_s"] / max(v["samples"] - 2, 1) * 1e6
        figures.append(
            Figure(
                key=f"cost.sampler_cpu{'' if name == 'off' else '.with_store'}",
                title=titles[name],
                unit="%",
                value=net,
                baseline=base,
                baseline_label="the same process sleeping the same time without a run",
                ratio=v["pct"] / base if base > 0 else None,
                ratio_label="process CPU with the run ÷ without",
                target=TARGET_PCT,
                details=[
                    f"{fmt(v['wall_s'])} s each; process CPU {fmt(v['cpu_s'] * 1e3)} ms with "
                    f"the run, {fmt(base * v['wall_s'] * 10)} ms without",
                    f"{v['samples']} samples at {fmt(v['interval_ms'])} ms: "
                    f"{fmt(per_sample_us)} µs of CPU per sample, all costs included",
                    f"one read() of each sensor opened (median): {reads}",
                    "a thread that only wakes every "
                    f"{fmt(v['interval_ms'])} ms (threading.Event.wait) costs "
                    f"{fmt(data['wakeups_pct'] - base)} % of a core here: the floor of any "
                    "Python sampler at this rate on this machine",
                ],
                group="cost",
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        root, seconds, variants = sys.argv[2:5]
        print(json.dumps(child(root, float(seconds), json.loads(variants))))
        return
    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(SECONDS[args.mode]), args)


if __name__ == "__main__":
    main()
