import math

import pytest

from jouleflow.attribution.forecast import (
    Budget,
    BudgetExceeded,
    Forecast,
    Forecaster,
    _t_quantile,
)
from jouleflow.errors import JouleflowError


def run(energies_j, durations_s=None, **kwargs):
    forecaster = Forecaster(**kwargs)
    durations_s = durations_s or [1.0] * len(energies_j)
    return [forecaster.observe(e, d) for e, d in zip(energies_j, durations_s)]


@pytest.mark.parametrize(
    ("confidence", "dof", "table"),  # Student t critical values from printed tables
    [(0.9, 1, 6.313752), (0.9, 2, 2.919986), (0.9, 9, 1.833113), (0.95, 29, 2.045230),
     (0.99, 5, 4.032143), (0.9, 100, 1.660234), (0.95, 120, 1.979930), (0.95, 1000, 1.962339)],
)  # fmt: skip
def test_t_quantiles_match_the_printed_tables(confidence, dof, table):
    assert _t_quantile(confidence, dof) == pytest.approx(table, abs=2e-6)


def test_constant_epochs_give_the_exact_total_and_a_zero_width_interval():
    forecasts = run([130.0, 100.0, 100.0], [2.6, 2.0, 2.0], total_units=10)
    f = forecasts[-1]
    assert f.units_done == 3 and f.units_total == 10
    assert f.energy_so_far_j == 330.0
    assert f.predicted_total_energy_j == 330.0 + 7 * 100.0
    assert f.energy_interval_j == (1030.0, 1030.0)
    assert f.remaining_energy_j == 700.0
    assert f.predicted_total_duration_s == pytest.approx(6.6 + 7 * 2.0)
    assert f.duration_interval_s[1] - f.duration_interval_s[0] == pytest.approx(0.0, abs=1e-9)


def test_linearly_varying_epochs_by_hand():
    # mean 110, s = 10, n = 3, R = 2: half-width = t(0.9, 2 dof) · s · √(R + R²/n)
    f = run([100.0, 110.0, 120.0], total_units=5, warmup_units=0)[-1]
    half = 2.919986 * 10.0 * math.sqrt(2 + 4 / 3)
    assert f.predicted_total_energy_j == pytest.approx(330.0 + 220.0)
    assert f.energy_interval_j == pytest.approx((550.0 - half, 550.0 + half), rel=1e-6)
    assert "mean of 3 post-warm-up epoch(s) × 2 remaining" in f.method
    assert "Student t" in f.method and "2 dof" in f.method


def test_warmup_is_recorded_but_not_modelled():
    forecasts = run([10_000.0, 100.0, 100.0], total_units=10, warmup_units=1)
    assert forecasts[0] is None
    assert forecasts[-1].predicted_total_energy_j == 10_000.0 + 9 * 100.0


def test_no_forecast_until_a_post_warmup_unit():
    forecasts = run([5.0, 5.0, 5.0], total_units=4, warmup_units=2, unit="step")
    assert forecasts[:2] == [None, None]
    assert isinstance(forecasts[2], Forecast) and forecasts[2].unit == "step"


def test_a_single_post_warmup_unit_gives_a_wide_stated_interval():
    f = run([130.0, 100.0], total_units=10)[-1]
    assert f.predicted_total_energy_j == 1030.0
    assert f.energy_interval_j == (230.0 + 400.0, 230.0 + 1200.0)  # ±50 % of the 800 J left
    assert "±50 %" in f.method and "no spread" in f.method


def test_interval_never_predicts_negative_remaining_energy():
    f = run([1.0, 100.0, 1.0], total_units=10, warmup_units=0)[-1]
    assert f.energy_interval_j[0] == f.energy_so_far_j


def test_completed_run_is_exact():
    f = run([3.0, 5.0, 7.0], total_units=3, warmup_units=0)[-1]
    assert f.predicted_total_energy_j == 15.0 and f.energy_interval_j == (15.0, 15.0)


def test_carbon_uses_exact_constants():
    f = run([0.0, 360_000.0, 360_000.0], total_units=11)[-1]  # 3.6 MJ = 1 kWh predicted
    grams, (lo, hi) = f.carbon(400.0, pue=1.5)
    assert grams == pytest.approx(600.0) and lo == pytest.approx(600.0) and hi == grams
    with pytest.raises(ValueError, match="pue"):
        f.carbon(400.0, pue=0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"total_units": 0}, "total_units must be an integer ≥ 1"),
     ({"total_units": 2.5}, "total_units"),
     ({"total_units": 3, "warmup_units": 3}, "warmup_units"),
     ({"total_units": 3, "confidence": 1.0}, "confidence")],
)  # fmt: skip
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Forecaster(**kwargs)


@pytest.mark.parametrize(("energy_j", "duration_s"), [(-1.0, 1.0), (math.nan, 1.0), (1.0, -2.0)])
def test_bad_observations_are_refused(energy_j, duration_s):
    with pytest.raises(ValueError, match="must be a finite number ≥ 0"):
        Forecaster(3).observe(energy_j, duration_s)


def test_observing_past_the_end_is_refused():
    forecaster = Forecaster(1, warmup_units=0)
    forecaster.observe(1.0, 1.0)
    with pytest.raises(ValueError, match="more than total_units=1"):
        forecaster.observe(1.0, 1.0)


def forecast_of(total_j, spread_j=0.0):
    """A finished-looking forecast: 2 units seen of 4, predicting ``total_j``."""
    per = total_j / 4
    return run([per - spread_j, per + spread_j], total_units=4, warmup_units=0)[-1]


def test_kwh_budget_exceeded_says_by_how_much_and_what_happens():
    verdict = Budget(max_kwh=1.0).check(forecast_of(1.2 * 3_600_000))
    assert verdict.exceeded and verdict.certainly_exceeded
    assert verdict.limit_unit == "kWh" and verdict.predicted == pytest.approx(1.2)
    assert "exceeds the 1 kWh budget by 0.2 kWh (20 %)" in verdict.message
    assert "after 2 of 4 epochs" in verdict.message and "continues (warn)" in verdict.message


def test_budget_exceeded_only_probably_when_the_interval_straddles_the_limit():
    verdict = Budget(max_kwh=1.0, action="stop").check(forecast_of(1.1 * 3_600_000, 200_000))
    assert verdict.exceeded and not verdict.certainly_exceeded
    assert "probably exceeds" in verdict.message and "will stop" in verdict.message


def test_within_budget():
    verdict = Budget(max_kwh=2.0).check(forecast_of(3_600_000))
    assert not verdict.exceeded and "within the 2 kWh budget (50% of it)" in verdict.message


def test_gco2_budget_with_pue_decides_when_it_is_the_tighter_limit():
    budget = Budget(max_kwh=10.0, max_gco2=500.0, intensity_g_per_kwh=400.0, pue=1.5)
    verdict = budget.check(forecast_of(3_600_000))  # 1 kWh × 1.5 × 400 g = 600 g
    assert verdict.exceeded and verdict.limit_unit == "gCO2"
    assert verdict.predicted == pytest.approx(600.0) and verdict.limit == 500.0


def test_enforce_raises_only_when_asked_to_stop():
    forecast = forecast_of(2 * 3_600_000)
    assert Budget(max_kwh=1.0).enforce(forecast).exceeded
    with pytest.raises(BudgetExceeded) as caught:
        Budget(max_kwh=1.0, action="stop").enforce(forecast)
    assert isinstance(caught.value, JouleflowError) and caught.value.verdict.exceeded
    assert "fix:" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({}, "max_kwh and/or max_gco2"), ({"max_kwh": -1.0}, "max_kwh must be"),
     ({"max_gco2": 5.0}, "intensity_g_per_kwh"), ({"max_kwh": 1.0, "pue": 0.9}, "pue"),
     ({"max_kwh": 1.0, "action": "explode"}, "action")],
)  # fmt: skip
def test_bad_budgets_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Budget(**kwargs)
