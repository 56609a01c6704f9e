"""Same energy elsewhere; flexible start and pause-when-dirty over a series, by hand."""

from datetime import datetime, timezone

import pytest

from jouleflow.carbon import (
    CAVEAT,
    EnergyInterval,
    IntensitySeries,
    assess,
    compare_zones,
    flexible_start,
    lookup_zone,
    pause_when_dirty,
    resolve_settings,
    what_if,
)

H = 3600.0
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()


def series(*values):
    return IntensitySeries(
        start_s=tuple(T0 + k * H for k in range(len(values))),
        g_per_kwh=tuple(map(float, values)),
        end_s=T0 + len(values) * H,
        source="test",
    )


def test_compare_zones_uses_each_zones_pue(isolated):
    settings = resolve_settings()
    zones = [lookup_zone(z) for z in ("FR", "DE", "US-CA", "gcp:europe-north1")]
    rows = {c.zone.code: c for c in compare_zones(3_600_000, zones, settings)}
    assert rows["FR"].operational_g == pytest.approx(41.44)
    assert rows["DE"].operational_g == pytest.approx(329.65)
    assert rows["US-CA"].operational_g == pytest.approx(394.769 * 0.45359237)
    assert rows["gcp:europe-north1"].pue.value == 1.1
    assert rows["gcp:europe-north1"].operational_g == pytest.approx(29.84 * 1.1)
    forced = compare_zones(3_600_000, zones[3:], resolve_settings(pue=1.5))
    assert forced[0].operational_g == pytest.approx(29.84 * 1.5)


def test_flexible_start_tries_each_step_in_the_window():
    grid = series(400, 300, 100, 200, 500)
    run = [EnergyInterval(T0 + 0.5 * H, T0 + 1.5 * H, 3_600_000)]  # 1 kWh over 00:30-01:30
    found = flexible_start(run, grid, pue=1.0, window_h=3)
    assert found.actual.operational_g == pytest.approx(350.0)  # half at 400, half at 300
    starts = [(o.start_s - T0) / H for o in found.options]
    assert starts == [0.5, 1.0, 2.0, 3.0]  # 03:30 would end after the series
    by_start = {(o.start_s - T0) / H: o.operational_g for o in found.options}
    assert by_start == pytest.approx({0.5: 350.0, 1.0: 300.0, 2.0: 100.0, 3.0: 200.0})
    assert (found.best.start_s - T0) / H == 2.0 and (found.worst.start_s - T0) / H == 0.5


def test_flexible_start_on_a_series_from_another_day_has_no_actual():
    grid = series(100, 50, 300)
    run = [EnergyInterval(T0 + 50 * H, T0 + 51 * H, 3_600_000)]
    found = flexible_start(run, grid, pue=2.0)
    assert found.actual is None
    assert [o.operational_g for o in found.options] == pytest.approx([200.0, 100.0, 600.0])


def test_pause_when_dirty_runs_in_the_cleanest_parts_of_the_window():
    grid = series(400, 100, 300, 50)
    run = [EnergyInterval(T0, T0 + 2 * H, 7_200_000)]  # 2 kWh at 1 kW from 00:00
    paused = pause_when_dirty(run, grid, pue=1.0, extra=1.0)  # may end by 04:00
    # cleanest two hours of 00:00-04:00 are 03:00 (50) and 01:00 (100): 1 kWh each
    assert paused.operational_g == pytest.approx(150.0)
    assert paused.baseline_g == pytest.approx(500.0)  # 400 + 100 without pausing
    assert paused.pauses == 1 and paused.finish_s == T0 + 4 * H
    tight = pause_when_dirty(run, grid, pue=1.0, extra=0.0)
    assert tight.operational_g == pytest.approx(500.0) and tight.pauses == 0
    assert pause_when_dirty([EnergyInterval(T0, T0, 1.0)], grid, pue=1.0) is None


def test_what_if_includes_time_shifts_and_the_caveat_only_with_a_series(
    isolated, result_of, tmp_path
):
    plain = assess(result_of(), region="FR")
    settings = resolve_settings(region="FR")
    result = what_if(plain, settings, [lookup_zone("DE")])
    assert result.flexible is None and result.pause is None and result.caveat is None
    grid = tmp_path / "grid.csv"
    grid.write_text(
        "timestamp,g\n" + "".join(f"2024-05-01T{h:02d}:00:00Z,{100 + 10 * h}\n" for h in range(24))
    )
    timed = assess(result_of(), region="FR", intensity=str(grid))
    shifted = what_if(timed, resolve_settings(region="FR"), [])
    assert shifted.caveat == CAVEAT and "marginal" in CAVEAT and "Dodge et al. 2022" in CAVEAT
    assert shifted.flexible.actual.operational_g == pytest.approx(timed.operational_g)
    assert shifted.flexible.best.operational_g <= timed.operational_g
    document = shifted.to_dict()
    assert document["flexible_start"]["best"]["operational_co2e_g"] == pytest.approx(
        235.0
    )  # its own start: (230 + 240) / 2
    assert document["pause_when_dirty"]["operational_co2e_g"] <= timed.operational_g
