"""Forecast error on simulated 10-epoch runs with known truth, against naive baselines.

Each run: per-epoch energy = base × (1 + noise), noise ~ Normal(0, --noise), and a first (warm-up)
epoch 30 % higher. After k of 10 epochs we compare |forecast − truth| / truth for
  - naive: first epoch × 10 (the required baseline; "ratio" is jouleflow's error ÷ this one's),
  - so-far × 10/k: the run-rate extrapolation, warm-up included (a stronger baseline),
  - jouleflow Forecaster with warmup_units=1 (and =0 where warm-up leaves nothing to model),
and the share of runs whose true total lies inside jouleflow's 90 % interval.

    python bench/forecast_accuracy.py [--runs 1000] [--noise 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics

from jouleflow.attribution.forecast import Forecaster

EPOCHS, BASE_J, WARMUP_FACTOR = 10, 1000.0, 1.3


def quantiles(errors: list[float]) -> tuple[float, float]:
    """Median and 90th percentile of |relative error|."""
    cuts = statistics.quantiles(errors, n=10, method="inclusive")
    return statistics.median(errors), cuts[8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.1, help="σ of per-epoch relative noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    runs = []
    for _ in range(args.runs):
        epochs = [BASE_J * max(0.0, 1 + rng.gauss(0.0, args.noise)) for _ in range(EPOCHS)]
        epochs[0] *= WARMUP_FACTOR
        runs.append(epochs)

    print(f"{args.runs} simulated runs of {EPOCHS} epochs, noise σ={args.noise:.0%}, warm-up +30 %")
    print("|error| of the total, median / p90 (ratio = jouleflow ÷ naive first×10, median)")
    header = f"{'seen':>4}  {'naive first×10':>15}  {'so-far×10/k':>13}  {'jouleflow':>15}"
    print(f"{header}  {'ratio':>5}  {'90% covers':>10}  method")
    for seen in (1, 2, 5):
        warmup = 1 if seen > 1 else 0
        naive, rate, ours, covered = [], [], [], 0
        for epochs in runs:
            truth = sum(epochs)
            naive.append(abs(epochs[0] * EPOCHS - truth) / truth)
            rate.append(abs(sum(epochs[:seen]) * EPOCHS / seen - truth) / truth)
            forecaster = Forecaster(EPOCHS, warmup_units=warmup)
            for energy_j in epochs[:seen]:
                forecast = forecaster.observe(energy_j, 1.0)
            assert forecast is not None
            ours.append(abs(forecast.predicted_total_energy_j - truth) / truth)
            lo, hi = forecast.energy_interval_j
            covered += lo <= truth <= hi
        (nm, n90), (rm, r90), (om, o90) = quantiles(naive), quantiles(rate), quantiles(ours)
        print(
            f"{seen:>4}  {nm:>6.1%} / {n90:>6.1%}  {rm:>5.1%} / {r90:>5.1%}"
            f"  {om:>6.1%} / {o90:>6.1%}"
            f"  {om / nm:>5.2f}  {covered / len(runs):>10.0%}  warmup_units={warmup}"
        )
    print("seen=1 with warmup_units=0 is the naive forecast by construction (±50 % interval).")


if __name__ == "__main__":
    main()
