import itertools

import pytest

from jouleflow.sampling.timeline import Timeline


def test_interpolates_between_samples_and_is_exact_on_them():
    timeline = Timeline()
    timeline.append(0, (0.0,))
    timeline.append(100, (10.0,))
    assert timeline.energy_at(100) == (10.0,)
    assert timeline.energy_at(25) == (2.5,)
    assert timeline.energy_at(500) == (10.0,)


def test_memory_stays_bounded_and_totals_stay_exact():
    timeline = Timeline(max_samples=100)
    for k in range(10_000):
        timeline.append(k * 1000, (float(k),))
    assert len(timeline) <= 100
    assert timeline.t_ns[0] == 0 and timeline.cum_uj[-1] == (9999.0,)
    # the most recent quarter keeps full resolution
    recent = timeline.t_ns[-25:]
    assert all(b - a == 1000 for a, b in itertools.pairwise(recent))
    # every kept sample still carries its exact cumulative value
    assert all(c == (t / 1000,) for t, c in timeline)


def test_power_is_the_rate_between_samples():
    timeline = Timeline()
    timeline.append(0, (0.0,))
    timeline.append(1_000_000_000, (5_000_000.0,))  # 5 J in 1 s
    times, powers = timeline.power_w()
    assert times == [500_000_000]
    assert powers[0][0] == pytest.approx(5.0)


def test_out_of_order_samples_are_refused():
    timeline = Timeline()
    timeline.append(10, (0.0,))
    with pytest.raises(ValueError):
        timeline.append(5, (0.0,))
