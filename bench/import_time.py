"""What ``import jouleflow`` adds to a bare interpreter's start.

Wall time of ``python -c "import jouleflow"`` against ``python -c pass`` (the baseline), each a
fresh process of this interpreter, alternated so that both see the same machine; the figure is
the difference of the medians. The details name the slowest imports (``python -X importtime``)
and what importing ``jouleflow.tracker`` costs on top, which the first ``track()`` pays.

    .venv/bin/python bench/import_time.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence

from _common import Figure, finish, fmt, median, parse_args

RUNS = {"quick": 5, "default": 15, "long": 31}
TARGET_MS = 50.0
IMPORT = "import jouleflow"
TRACKER = "import jouleflow, jouleflow.tracker"


def _wall_ms(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1e3


def slowest_imports(code: str, top: int = 6) -> list[str]:
    """The modules with the largest own import time under ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(own), int(cumulative), name.strip()))
    rows.sort(reverse=True)
    return [
        f"{name} {own / 1e3:.1f} ms (with its imports {cum / 1e3:.1f})"
        for own, cum, name in rows[:top]
    ]


def measure(runs: int) -> list[Figure]:
    _wall_ms("pass"), _wall_ms(IMPORT)  # warm the file cache
    bare, imported, tracker = [], [], []
    for _ in range(runs):
        bare.append(_wall_ms("pass"))
        imported.append(_wall_ms(IMPORT))
        tracker.append(_wall_ms(TRACKER))
    added = median(imported) - median(bare)
    return [
        Figure(
            key="cost.import",
            title="`import jouleflow` added to a bare interpreter",
            unit="ms",
            value=added,
            baseline=median(bare),
            baseline_label="`python -c pass`, the same interpreter",
            ratio=median(imported) / median(bare),
            ratio_label="`python -c 'import jouleflow'` ÷ `python -c pass` (medians)",
            target=TARGET_MS,
            details=[
                f"{runs} runs each, alternated; medians: bare {fmt(median(bare))} ms, "
                f"with import {fmt(median(imported))} ms",
                "`import jouleflow.tracker` (what the first track() loads) adds a further "
                f"{fmt(median(tracker) - median(imported))} ms",
                "slowest own import times under -X importtime: "
                + "; ".join(slowest_imports(IMPORT)),
            ],
            group="cost",
        )
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(RUNS[args.mode]), args)


if __name__ == "__main__":
    main()
