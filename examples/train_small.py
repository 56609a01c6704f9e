"""A small training run on synthetic data, on the CPU: the README's main job.

    jouleflow run -- python examples/train_small.py

Trains a 3-layer MLP to classify synthetic clusters for a few epochs (a few seconds on a laptop).
No downloads: the data is generated here. Two lines of jouleflow (``track`` and ``watch``) split
the energy into data loading, forward, backward and optimizer phases and across the layers;
under ``jouleflow run`` they join the measurement of the whole command.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import jouleflow
import jouleflow.torch


def synthetic_clusters(
    n: int, features: int, classes: int, seed: int
) -> torch.utils.data.TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, features, generator=generator) * 3
    labels = torch.randint(0, classes, (n,), generator=generator)
    points = centres[labels] + torch.randn(n, features, generator=generator)
    return torch.utils.data.TensorDataset(points, labels)


def build_model(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, default=512)
    args = parser.parse_args()

    torch.manual_seed(0)
    data = synthetic_clusters(args.samples, features=64, classes=10, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True)
    model = build_model(64, args.hidden, 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    with jouleflow.track("train_small") as run:
        watcher = jouleflow.torch.watch(model, optimizer, loader, run=run, layers=True)
        for epoch in range(args.epochs):
            started = time.perf_counter()
            correct = 0
            for points, labels in loader:
                logits = model(points)
                loss = loss_fn(logits, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                correct += int((logits.argmax(1) == labels).sum())
                run.count(samples=len(labels))
            accuracy = correct / len(data)
            print(
                f"epoch {epoch}: loss {loss.item():.3f}, accuracy {accuracy:.1%}, "
                f"{time.perf_counter() - started:.2f} s",
                flush=True,
            )
        watcher.close()


if __name__ == "__main__":
    main()
