"""What phase and layer attribution cost a training step of the README's example model.

The example's model (a 64 → 512 → 512 → 10 MLP, batch 128, AdamW, CPU) trains in three ways,
alternated in batches inside one ``track()`` on a simulated one-socket RAPL tree: unwatched (the
baseline), under ``jouleflow.torch.watch`` (phases: every transition reads the counters), and under
``watch(layers=True)`` (plus forward hooks on every layer; the FLOP-counting pass is excluded:
it happens once). The figure is the median step time's overhead over the baseline.

    .venv/bin/python bench/attribution_overhead.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _common import Figure, finish, fmt, median, parse_args, scratch_dir, simulated_socket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

ROUNDS = {"quick": 5, "default": 15, "long": 40}
STEPS_PER_ROUND = 40
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

    def epoch() -> float:
        started = time.perf_counter_ns()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return (time.perf_counter_ns() - started) / STEPS_PER_ROUND / 1e6  # ms per step

    times: dict[str, list[float]] = {"none": [], "phases": [], "layers": []}
    with (
        scratch_dir() as tmp,
        simulated_socket(Path(tmp)) as root,
        jouleflow.track(powercap_root=str(root), gpus=False, db=False) as run,
    ):
        epoch()  # warm-up
        for _ in range(rounds):
            times["none"].append(epoch())
            watcher = jt.watch(model, optimizer, loader, run=run)
            times["phases"].append(epoch())
            watcher.close()
            watcher = jt.watch(model, optimizer, loader, run=run, layers=True, flops=False)
            times["layers"].append(epoch())
            watcher.close()
    base = median(times["none"])
    figures = []
    for mode, title in (("phases", "phase attribution"), ("layers", "layer attribution")):
        value = median(times[mode])
        overhead = (value / base - 1) * 100
        figures.append(
            Figure(
                key=f"cost.attribution.{mode}",
                title=f"{title}: step-time overhead on the example model",
                unit="%",
                value=overhead,
                baseline=0.0,
                baseline_label=f"the same steps unwatched: {fmt(base)} ms per step",
                ratio=value / base,
                ratio_label="step time watched ÷ unwatched",
                target=TARGETS_PCT[mode],
                details=[
                    f"{rounds} rounds of {STEPS_PER_ROUND} steps each, alternated with the "
                    f"baseline; median step {fmt(value)} ms vs {fmt(base)} ms",
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
