"""How much resident memory jouleflow adds: importing it, plus a run with many samples.

A fresh process reads its resident set size (RSS, from /proc/self/statm: what
``psutil.Process().memory_info().rss`` reports, read without importing psutil first so that
psutil counts as jouleflow's), imports jouleflow, runs ``track(interval_s=0.001)`` on a
simulated one-socket powercap tree for a while (enough samples to fill the timeline, which keeps
at most 20,000 and thins older ones), stops it, and reads its RSS again with the result still
held. Baseline: the same process, started at the same time, sleeping the same time without
jouleflow. Measured with the run store off (the measurement core) and on (``track()``'s default,
which also keeps the samples in SQLite).

    .venv/bin/python bench/rss.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SECONDS = {"quick": 5.0, "default": 25.0, "long": 60.0}
INTERVAL_S = 0.001
TARGET_MB = 15.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def child(mode: str, seconds: float, root: str, options: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh process; nothing but the standard library is loaded before the first read."""
    before = _rss_mb()
    if mode == "baseline":
        time.sleep(seconds)
        return {"before_mb": before, "after_mb": _rss_mb()}
    import jouleflow

    imported = _rss_mb()
    taken = [0]

    def count(t_ns: int, cum: tuple[float, ...]) -> None:
        taken[0] += 1

    config = jouleflow.MeterConfig(powercap_root=root, interval_s=INTERVAL_S)
    run = jouleflow.Run(config=config, on_sample=count, **options).start()
    time.sleep(seconds)
    result = run.stop()
    after = _rss_mb()
    return {
        "before_mb": before,
        "imported_mb": imported,
        "after_mb": after,
        "samples_taken": taken[0],
        "kept": len(run.timeline),
        "thinned": run.timeline.thinned,
        "duration_s": result.duration_s,
        "total_j": result.total_j,  # the result is still held when RSS is read
    }


def measure(seconds: float) -> list[Any]:
    from _common import (
        Figure,
        child_command,
        fmt,
        has_store,
        scratch_dir,
        simulated_socket,
        store_option,
        use_scratch_store,
    )

    variants = {"off": False, "on": True} if has_store() else {"off": False}
    figures = []
    with scratch_dir() as tmp, simulated_socket(Path(tmp)) as root:
        use_scratch_store(Path(tmp))
        for name, store in variants.items():
            options = store_option(store, Path(tmp) / "rss.db")
            commands = {
                mode: child_command(
                    "rss.py", "--child", mode, str(seconds), str(root), json.dumps(options)
                )
                for mode in ("jouleflow", "baseline")
            }
            # Both at once: the baseline only sleeps, and shares the run's machine and time.
            procs = {
                mode: subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                for mode, command in commands.items()
            }
            out = {}
            for mode, proc in procs.items():
                stdout, _ = proc.communicate(timeout=seconds * 3 + 120)
                if proc.returncode != 0:
                    raise RuntimeError(f"rss child {mode} failed ({proc.returncode})")
                out[mode] = json.loads(stdout.strip().splitlines()[-1])
            jf, base = out["jouleflow"], out["baseline"]
            growth = jf["after_mb"] - jf["before_mb"]
            base_growth = base["after_mb"] - base["before_mb"]
            figures.append(
                Figure(
                    key="cost.rss" + ("" if name == "off" else ".with_store"),
                    title="RSS growth: import + a run of "
                    f"{jf['samples_taken']:,} samples"
                    + ("" if name == "off" else ", run store on (default)"),
                    unit="MB",
                    value=growth,
                    baseline=base_growth,
                    baseline_label="the same process sleeping as long without jouleflow",
                    ratio=jf["after_mb"] / base["after_mb"],
                    ratio_label="final RSS ÷ the baseline's final RSS",
                    target=TARGET_MB,
                    details=[
                        f"RSS before {fmt(jf['before_mb'])} MB; after import "
                        f"{fmt(jf['imported_mb'])} MB (+{fmt(jf['imported_mb'] - jf['before_mb'])}"
                        f"); after the run {fmt(jf['after_mb'])} MB "
                        f"(+{fmt(jf['after_mb'] - jf['imported_mb'])} for the run); "
                        f"baseline {fmt(base['before_mb'])} → {fmt(base['after_mb'])} MB",
                        f"{fmt(jf['duration_s'])} s at a requested {INTERVAL_S * 1e3:g} ms: "
                        f"{jf['samples_taken']:,} samples taken, {jf['kept']:,} kept in the "
                        f"timeline (thinned {jf['thinned']} times)",
                    ],
                    group="cost",
                )
            )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, seconds, root, options = sys.argv[2:6]
        print(json.dumps(child(mode, float(seconds), root, json.loads(options))))
        return
    from _common import finish, parse_args

    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(SECONDS[args.mode]), args)


if __name__ == "__main__":
    main()
