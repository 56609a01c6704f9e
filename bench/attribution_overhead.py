"""What phase and layer attribution cost a training step of the README's example model.

The example's model (a 64 → 512 → 512 → 10 MLP, batch 128, AdamW, CPU) trains in three ways
inside one ``track()`` on a simulated one-socket RAPL tree: unwatched (the baseline), under
``jouleflow.torch.watch`` (phases: every transition reads the counters), and under
``watch(layers=True)`` (plus forward hooks on every layer; the FLOP-counting pass is excluded:
it happens once). Each round trains one epoch of 40 steps in each way, in an order that rotates
from round to round, so that drift in the machine's speed falls on all three alike.

The figure is the median over rounds of each round's overhead (watched ÷ unwatched − 1), judged
on the CPU time the process spends per step (all its threads: the sampler's share is in it).
Wall time is reported beside it: on a shared VM it also carries the time other tenants take from
this one (steal), which comes and goes by several per cent from one epoch to the next.

    .venv/bin/python bench/attribution_overhead.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _common import Figure, finish, fmt, median, parse_args, scratch_dir, simulated_socket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

ROUNDS = {"quick": 12, "default": 40, "long": 100}
STEPS_PER_ROUND = 40
MODES = ("none", "phases", "layers")
TARGETS_PCT = {"phases": 3.0, "layers": 15.0}


def measure(rounds: int) -> list[Figure]:
    import torch
    from train_small import build_model, synthetic_clusters

    import jouleflow
    import jouleflow.torch as jt

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one core: steadier steps on a small, shared machine
    data = synthetic_clusters(STEPS_PER_ROUND * 128, features=64, classes=10, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=False)
    model = build_model(64, 512, 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch() -> tuple[float, float]:
        """(CPU, wall) µs per step."""
        cpu, wall = time.process_time_ns(), time.perf_counter_ns()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return (
            (time.process_time_ns() - cpu) / STEPS_PER_ROUND / 1e3,
            (time.perf_counter_ns() - wall) / STEPS_PER_ROUND / 1e3,
        )

    def watched(mode: str, run: jouleflow.Run) -> tuple[float, float]:
        if mode == "none":
            return epoch()
        watcher = jt.watch(model, optimizer, loader, run=run, layers=mode == "layers", flops=False)
        try:
            return epoch()
        finally:
            watcher.close()

    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    with (
        scratch_dir() as tmp,
        simulated_socket(Path(tmp)) as root,
        jouleflow.track(powercap_root=str(root), gpus=False, db=False) as run,
    ):
        for mode in MODES:  # warm-up: first-call costs of each path
            watched(mode, run)
        for k in range(rounds):
            for mode in MODES[k % 3 :] + MODES[: k % 3]:
                c, w = watched(mode, run)
                cpu[mode].append(c)
                wall[mode].append(w)

    def overhead(times: dict[str, list[float]], mode: str) -> float:
        return median([(a / b - 1) * 100 for a, b in zip(times[mode], times["none"])])

    base = median(cpu["none"])
    figures = []
    for mode, title in (("phases", "phase attribution"), ("layers", "layer attribution")):
        value = overhead(cpu, mode)
        figures.append(
            Figure(
                key=f"cost.attribution.{mode}",
                title=f"{title}: step-time overhead on the example model",
                unit="%",
                value=value,
                baseline=0.0,
                baseline_label=f"the same steps unwatched: {fmt(base)} µs of CPU per step",
                ratio=1 + value / 100,
                ratio_label="step time watched ÷ unwatched",
                target=TARGETS_PCT[mode],
                details=[
                    f"{rounds} rounds of {STEPS_PER_ROUND} steps in each way, order rotated; "
                    f"median step {fmt(median(cpu[mode]))} µs of CPU vs {fmt(base)} µs",
                    f"in wall time: {fmt(overhead(wall, mode))} % (median step "
                    f"{fmt(median(wall[mode]))} µs vs {fmt(median(wall['none']))} µs)",
                ],
                group="cost",
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(ROUNDS[args.mode]), args)


if __name__ == "__main__":
    main()
