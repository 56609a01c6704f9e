"""What phase and layer attribution cost a training step of the README's example model.

The example's model (a 64 → 512 → 512 → 10 MLP, batch 128, AdamW, CPU) is built three times with
the same weights, each with its own optimizer and DataLoader, inside one ``track()`` on a simulated
one-socket RAPL tree. In each epoch one copy is unwatched (the baseline), one is under
``jouleflow.torch.watch`` (phases: seven edges a step, each reading the counters), one under
``watch(layers=True)`` (plus forward hooks on every layer; the FLOP-counting pass is excluded: it
happens once). The three train in turn, two steps each, in an order that rotates every turn, and
the second step of each turn (its wait for the batch included) is timed on its own: as in a real
loop, the timed step follows its own model's previous step (after another model's step, its first
edges would find the caches full of that model's work, which a real loop never does). The roles
rotate between the copies every epoch (``watch`` closed and opened again), so each way is
measured on every copy.

The figure is the median over steps of each step's overhead against the baseline step next to it
(watched ÷ unwatched − 1). Pairing neighbouring steps matters on a shared VM, where the speed of
the machine drifts by 20 % and more from one second to the next: epoch-long comparisons measured
that drift, not jouleflow. Rotating the roles matters too: two unwatched copies of the same model
differ by up to ±0.3 % from each other (where their tensors landed in memory), as much as a tenth
of the target.

    .venv/bin/python bench/attribution_overhead.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import Figure, finish, fmt, median, parse_args, scratch_dir, simulated_socket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

STEPS = {"quick": 600, "default": 2400, "long": 8000}
BATCH = 128
EPOCH_STEPS = 200  # batches per DataLoader pass: epochs (and their edges) happen as in training
WARM_STEPS = 10  # untimed turns, each epoch: first-call costs of each path after roles rotate
MODES = ("none", "phases", "layers")
TARGETS_PCT = {"phases": 3.0, "layers": 15.0}


def measure(steps: int) -> list[Figure]:
    import torch
    from train_small import build_model, synthetic_clusters

    import jouleflow
    import jouleflow.torch as jt

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one core: steadier steps on a small, shared machine
    data = synthetic_clusters(EPOCH_STEPS * BATCH, features=64, classes=10, seed=0)
    loss_fn = torch.nn.CrossEntropyLoss()
    base_model = build_model(64, 512, 10)

    class Trainer:
        def __init__(self) -> None:
            self.model = copy.deepcopy(base_model)
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
            self.loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=False)
            self._batches: Iterator[Any] = iter(())
            self.watcher: Any = None

        def take_role(self, mode: str, run: Any) -> None:
            """Train the next epoch unwatched, with phases, or with layers too."""
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None
            if mode != "none":
                self.watcher = jt.watch(
                    self.model,
                    self.optimizer,
                    self.loader,
                    run=run,
                    layers=mode == "layers",
                    flops=False,
                )
            self._batches = iter(self.loader)

        def step(self) -> int:
            """One training step, its wait for the batch included; ns."""
            started = time.perf_counter_ns()
            x, y = next(self._batches)
            loss = loss_fn(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            return time.perf_counter_ns() - started

    copies = [Trainer() for _ in MODES]
    times: dict[str, list[int]] = {mode: [] for mode in MODES}
    with (
        scratch_dir() as tmp,
        simulated_socket(Path(tmp)) as root,
        jouleflow.track(powercap_root=str(root), gpus=False, db=False) as run,
    ):
        epochs = -(-steps // (EPOCH_STEPS // 2 - WARM_STEPS))
        for epoch in range(epochs):
            trainers = {mode: copies[(epoch + i) % len(copies)] for i, mode in enumerate(MODES)}
            for mode, trainer in trainers.items():
                trainer.take_role(mode, run)
            for k in range(EPOCH_STEPS // 2):
                for mode in MODES[k % 3 :] + MODES[: k % 3]:
                    trainers[mode].step()  # untimed: the timed step follows its own model's
                    elapsed = trainers[mode].step()
                    if k >= WARM_STEPS and len(times[mode]) < steps:
                        times[mode].append(elapsed)
        for trainer in copies:
            trainer.take_role("none", run)
        edges = sum(p.count for p in run.partial_result().phases if p.name != "epoch")

    base_us = median(times["none"]) / 1e3
    figures = []
    for mode, title in (("phases", "phase attribution"), ("layers", "layer attribution")):
        overhead = median([(a / b - 1) * 100 for a, b in zip(times[mode], times["none"])])
        value_us = median(times[mode]) / 1e3
        figures.append(
            Figure(
                key=f"cost.attribution.{mode}",
                title=f"{title}: step-time overhead on the example model",
                unit="%",
                value=overhead,
                baseline=0.0,
                baseline_label=f"the same steps unwatched: {fmt(base_us)} µs per step",
                ratio=1 + overhead / 100,
                ratio_label="step time watched ÷ unwatched",
                target=TARGETS_PCT[mode],
                details=[
                    f"{steps} timed steps in each way, interleaved two steps at a time (order "
                    f"rotated, the second timed), "
                    f"roles rotated between three copies of the model every epoch; "
                    f"median step {fmt(value_us)} µs vs {fmt(base_us)} µs unwatched",
                    f"phase occurrences recorded by both watched models: {edges:,}",
                ],
                group="cost",
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    finish(measure(STEPS[args.mode]), args)


if __name__ == "__main__":
    main()
