import random

from hypothesis import given, settings
from hypothesis import strategies as st

from jouleflow.attribution.forecast import Forecaster

energies = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@given(values=st.lists(energies, min_size=1, max_size=30), warmup=st.integers(0, 3))
def test_interval_brackets_the_point_and_the_energy_already_spent(values, warmup):
    forecaster = Forecaster(len(values) + 5, warmup_units=warmup)
    for value in values:
        f = forecaster.observe(value, 1.0)
        if f is not None:
            lo, hi = f.energy_interval_j
            assert f.energy_so_far_j <= lo <= f.predicted_total_energy_j <= hi


@given(
    pattern=st.lists(st.floats(1.0, 1000.0), min_size=2, max_size=5).filter(
        lambda p: max(p) - min(p) > 1e-3 * max(p)
    ),
    periods_total=st.integers(5, 20),
)
def test_interval_shrinks_as_more_units_are_observed(pattern, periods_total):
    forecaster = Forecaster(len(pattern) * periods_total, warmup_units=0)
    widths = []
    for period in range(4):
        for value in pattern:
            f = forecaster.observe(value, 1.0)
        lo, hi = f.energy_interval_j
        widths.append(hi - lo)
        assert period == 0 or widths[-1] < widths[-2]


@settings(max_examples=12, derandomize=True, deadline=None)
@given(
    relative_noise=st.floats(0.01, 0.2),
    seen=st.integers(3, 9),
    warmup=st.integers(0, 1),
)
def test_90_percent_interval_covers_the_truth_for_iid_noise(relative_noise, seen, warmup):
    rng = random.Random(f"{relative_noise}-{seen}-{warmup}")
    covered, runs = 0, 200
    for _ in range(runs):
        epochs = [max(0.0, rng.gauss(100.0, 100.0 * relative_noise)) for _ in range(10)]
        epochs[0] *= 1.3 if warmup else 1.0
        forecaster = Forecaster(10, warmup_units=warmup, confidence=0.9)
        for value in epochs[:seen]:
            f = forecaster.observe(value, 1.0)
        lo, hi = f.energy_interval_j
        covered += lo <= sum(epochs) <= hi
    assert covered / runs >= 0.85
