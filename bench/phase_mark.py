"""What a phase mark costs: one edge (``run.marker()``, as ``watch()`` moves from phase to phase;
``run.switch`` for comparison), and a whole ``with run.phase("x")`` block (enter + exit: two
edges), inside a running ``track()``.

Each enter and each exit reads the exact counters synchronously (here the three RAPL files of a
simulated one-socket tree, its simulator in another process), so a mark is two edge readings plus
the bookkeeping, which waits for a batch (see docs/measurement.md); the one-edge figure also
reports the CPU time per edge with that bookkeeping done. Timed in batches of empty
``with run.phase("x"): pass`` blocks, alternated with batches of the baseline, an empty
``contextlib.contextmanager`` (the cheapest way to write a phase-like block in Python); the
figure is the median per mark (enter and exit) over the batches. The run store is off: phases
do not touch it.

    .venv/bin/python bench/phase_mark.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from _common import (
    Figure,
    finish,
    fmt,
    median,
    parse_args,
    scratch_dir,
    simulated_socket,
    store_option,
    use_scratch_store,
)

BATCHES = {"quick": 7, "default": 21, "long": 51}
MARKS_PER_BATCH = 1000
TARGET_US = 10.0


@contextmanager
def _empty() -> Iterator[None]:
    yield


def _per_mark_us(block: Callable[[], AbstractContextManager[object]], n: int) -> float:
    begin = time.perf_counter_ns()
    for _ in range(n):
        with block():
            pass
    return (time.perf_counter_ns() - begin) / n / 1e3


def measure(batches: int) -> list[Figure]:
    import jouleflow

    with scratch_dir() as tmp, simulated_socket(Path(tmp)) as root:
        use_scratch_store(Path(tmp))
        run = jouleflow.track(powercap_root=str(root), **store_option(False)).start()
        try:

            def phase() -> AbstractContextManager[object]:
                return run.phase("x")

            _per_mark_us(phase, 200), _per_mark_us(_empty, 200)  # warm up
            marks, empty, switches, accounted, marked = [], [], [], [], []
            mark, stream = run.marker(), run.stream()
            current = run.phase("a").__enter__()
            for _ in range(batches):
                marks.append(_per_mark_us(phase, MARKS_PER_BATCH))
                empty.append(_per_mark_us(_empty, MARKS_PER_BATCH))
                with run.phase("settle") as settle:
                    pass
                _ = settle.energy_j  # the blocks' edges accounted now, not counted below
                cpu = time.process_time_ns()
                begin = time.perf_counter_ns()
                for k in range(MARKS_PER_BATCH):
                    mark(stream, "c" if k % 2 else "d")
                marked.append((time.perf_counter_ns() - begin) / MARKS_PER_BATCH / 1e3)
                begin = time.perf_counter_ns()
                for k in range(MARKS_PER_BATCH):
                    previous, current = current, run.switch(current, "a" if k % 2 else "b")
                switches.append((time.perf_counter_ns() - begin) / MARKS_PER_BATCH / 1e3)
                _ = previous.energy_j  # asks for the batch's accounting, wherever it was pending
                edges = 2 * MARKS_PER_BATCH  # the marks' and the switches'
                accounted.append((time.process_time_ns() - cpu) / edges / 1e3)
            current.close()
            mark(stream, None)
            edge_domains = [d.id for d in run.domains if d.edge_read]
        finally:
            result = run.stop()
    value, base = median(marks), median(empty)
    edge, switch = median(marked), median(switches)
    return [
        Figure(
            key="cost.phase_mark",
            title="phase mark: one edge (run.marker(), what watch() does per transition)",
            unit="µs",
            value=edge,
            baseline=base / 2,
            baseline_label="half an empty contextlib.contextmanager (one of its two edges)",
            ratio=edge / (base / 2),
            ratio_label="per edge ÷ per empty context-manager edge",
            target=TARGET_US,
            details=[
                f"{batches} batches of {MARKS_PER_BATCH} marks between two phases; median "
                f"{fmt(edge)} µs, fastest batch {fmt(min(marked))} µs, slowest "
                f"{fmt(max(marked))} µs; each reads the counters' text once (decoded when "
                "accounted) and closes one phase and opens the next at that instant",
                f"run.switch (an occurrence object per edge, readings decoded at once): median "
                f"{fmt(switch)} µs, fastest batch {fmt(min(switches))} µs",
                f"with their accounting (decoding, unwrapping, the phase ledger: done in batches, "
                f"normally on the sampler's thread), CPU time of the process per edge, marks and "
                f"switches together: median "
                f"{fmt(median(accounted))} µs",
            ],
            group="cost",
        ),
        Figure(
            key="cost.phase_block",
            title="phase block: enter + exit of run.phase() (two edges)",
            unit="µs",
            value=value,
            baseline=base,
            baseline_label="an empty contextlib.contextmanager, enter + exit",
            ratio=value / base,
            ratio_label="per mark ÷ per empty context manager",
            target=2 * TARGET_US,
            details=[
                f"{batches} batches of {MARKS_PER_BATCH} marks, alternated with the baseline; "
                f"per mark: median {fmt(value)} µs, fastest batch {fmt(min(marks))} µs, "
                f"slowest {fmt(max(marks))} µs",
                f"each edge reads {len(edge_domains)} counters synchronously "
                f"({', '.join(edge_domains)}); the sampler ran meanwhile "
                f"({result.samples} samples)",
                f"phase 'x' recorded {result.phase('x').count} times",
            ],
            group="cost",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(BATCHES[args.mode]), args)


if __name__ == "__main__":
    main()
