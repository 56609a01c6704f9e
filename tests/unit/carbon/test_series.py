"""Intensity time series: the step function, its integration, and line-numbered file errors."""

from datetime import datetime, timezone

import pytest

from jouleflow.carbon import EnergyInterval, IntensitySeries, integrate, load_series
from jouleflow.carbon.series import parse_series, profile_from_increments
from jouleflow.errors import ConfigError

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()
H = 3600.0


def hourly(*values):
    """Steps at T0, T0+1h, ...; the last one lasts an hour too."""
    return IntensitySeries(
        start_s=tuple(T0 + k * H for k in range(len(values))),
        g_per_kwh=tuple(float(v) for v in values),
        end_s=T0 + len(values) * H,
        source="test",
    )


def test_integration_weighs_by_when_the_energy_was_used():
    series = hourly(100, 200, 50)
    profile = [
        EnergyInterval(T0 + 0.5 * H, T0 + H, 1_800_000),  # 0.5 kWh, all at 100
        EnergyInterval(T0 + H, T0 + 2.5 * H, 10_800_000),  # 3 kWh: 1 h at 200, 0.5 h at 50
    ]
    found = integrate(series, profile)
    # by hand: 0.5 x 100 + 3 x (200 x 3600 + 50 x 1800) / 5400 = 50 + 450 = 500 g over 3.5 kWh
    assert found.g_per_kwh * 3.5 == pytest.approx(500.0, rel=1e-12)
    assert found.energy_j == 12_600_000 and found.uncovered_j == 0
    # the run's average over the same window would give 481.25 g, not 500
    assert series.mean_over(T0 + 0.5 * H, T0 + 2.5 * H) * 3.5 == pytest.approx(481.25)


def test_energy_outside_the_series_uses_the_edge_value_and_is_counted():
    series = hourly(100, 200)
    found = integrate(series, [EnergyInterval(T0 + 1.5 * H, T0 + 2.5 * H, 3_600_000)])
    assert found.g_per_kwh == pytest.approx(200.0)
    assert found.uncovered_j == pytest.approx(1_800_000)


def test_shifting_a_profile_and_instant_intervals():
    series = hourly(100, 200, 50)
    one = [EnergyInterval(T0, T0 + H, 3_600_000)]
    assert integrate(series, one, shift_s=2 * H).g_per_kwh == pytest.approx(50.0)
    assert integrate(series, [EnergyInterval(T0 + H, T0 + H, 1.0)]).g_per_kwh == 200.0


def test_increments_become_intervals_from_the_run_start():
    start = datetime(2024, 5, 1, 0, 30, tzinfo=timezone.utc)
    profile = profile_from_increments(
        [(T0 + H, 1.0), (datetime(2024, 5, 1, 2, tzinfo=timezone.utc), 2.0)], start
    )
    assert profile == (
        EnergyInterval(T0 + 0.5 * H, T0 + H, 1.0),
        EnergyInterval(T0 + H, T0 + 2 * H, 2.0),
    )
    with pytest.raises(ConfigError, match="no time zone"):
        profile_from_increments([(datetime(2024, 5, 1, 2), 1.0)], start)
    with pytest.raises(ConfigError, match="out of order"):
        profile_from_increments([(T0, 1.0)], start)


def write(tmp_path, text, name="grid.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_iso_and_unix_timestamps_with_a_final_step(tmp_path):
    path = write(
        tmp_path,
        "# hourly export\ntimestamp,gCO2e/kWh\n"
        "2024-05-01T00:00:00Z,100\n2024-05-01T01:00:00+00:00,200\n1714528800,50\n",
    )
    series = load_series(path)
    assert series.start_s == (T0, T0 + H, T0 + 2 * H)
    assert series.g_per_kwh == (100.0, 200.0, 50.0)
    assert series.end_s == T0 + 3 * H and series.step_s == H
    assert series.notes == () and series.source == str(path)


def test_reads_an_electricity_maps_export_taking_the_lifecycle_column(tmp_path):
    path = write(
        tmp_path,
        "Datetime (UTC),Country,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
        "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage\n"
        "2024-05-01 00:00:00,France,FR,20,40,90\n"
        "2024-05-01 01:00:00,France,FR,30,50,88\n",
    )
    series = load_series(path)
    assert series.g_per_kwh == (40.0, 50.0) and series.start_s == (T0, T0 + H)
    assert series.notes == ("timestamps without a time zone were read as UTC",)


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("a,b\n2024-05-01T00:00Z,1\n", ":1:", "no timestamp column"),
        ("timestamp,zone,source\n2024-05-01T00:00Z,FR,x\n", ":1:", "no intensity column"),
        (
            "# comment\n\ntimestamp,gco2e_per_kwh\n2024-05-01T00:00Z,10\n2024-13-01T00:00Z,20\n",
            ":5:",
            "bad timestamp '2024-13-01T00:00Z'",
        ),
        (
            "timestamp,gco2e_per_kwh\n2024-05-01T00:00Z,10\n2024-05-01T01:00Z,20\n"
            "2024-05-01T02:00Z,-3\n",
            ":4:",
            "negative intensity -3",
        ),
        ("timestamp,intensity\n2024-05-01T00:00Z,ten\n", ":2:", "'ten' is not a number"),
        ("timestamp,intensity\n2024-05-01T00:00Z,\n", ":2:", "missing intensity"),
        ("timestamp,intensity\n2024-05-01T00:00Z\n", ":2:", "the row has 1 columns"),
        (
            "timestamp,intensity\n2024-05-01T01:00Z,1\n2024-05-01T00:00Z,2\n",
            ":3:",
            "is not after the previous row's (line 2)",
        ),
        ("timestamp,intensity,other_intensity\n", ":1:", "several intensity columns"),
        ("timestamp,lbs_co2_per_mwh\n", ":1:", "is not in gCO2e/kWh"),
    ],
)
def test_bad_files_name_the_line(tmp_path, text, where, what):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_series(path)
    message = str(caught.value)
    assert f"{path}{where}" in message and what in message
    assert "fix:" in message


def test_files_too_short_or_missing(tmp_path):
    with pytest.raises(ConfigError, match="at least two rows, found 1"):
        load_series(write(tmp_path, "timestamp,intensity\n2024-05-01T00:00Z,1\n"))
    with pytest.raises(ConfigError, match="the file is empty"):
        load_series(write(tmp_path, "\n# nothing\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_series(tmp_path / "missing.csv")
    (tmp_path / "latin.csv").write_bytes(b"timestamp,intensit\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_series(tmp_path / "latin.csv")


def test_parse_series_from_text():
    series = parse_series("time,g\n0,1\n60,2\n", "inline")
    assert series.start_s == (0.0, 60.0) and series.end_s == 120.0
