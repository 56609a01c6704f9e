"""A run's carbon: what was used, where it came from, and the grams, by hand."""

import json
from datetime import datetime, timezone

import pytest

from jouleflow.carbon import assess, energy_timeline, resolve_settings
from jouleflow.sampling.timeline import Timeline

H = 3600.0
MIDNIGHT = datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()


def grid_csv(folder, values, name="grid.csv"):
    rows = "".join(
        f"{datetime.fromtimestamp(MIDNIGHT + k * H, timezone.utc).isoformat()},{v}\n"
        for k, v in enumerate(values)
    )
    path = folder / name
    path.write_text("timestamp,gco2e_per_kwh\n" + rows)
    return path


def test_fr_carries_intensity_source_year_pue_and_grams(isolated, result_of):
    carbon = assess(result_of(3_600_000), region="FR")
    assert carbon.operational_g == pytest.approx(41.44) and carbon.co2e_g == carbon.operational_g
    document = json.loads(json.dumps(carbon.to_dict()))
    assert document["co2e_g"] == pytest.approx(41.44)
    assert document["zone"] == "FR" and document["region_source"] == "the region argument"
    assert document["intensity_g_per_kwh"] == 41.44
    assert document["intensity_source"] == "Ember via Our World in Data"
    assert document["intensity_source_id"] == "ember-owid-2026"
    assert document["intensity_year"] == 2025 and document["intensity_licence"] == "CC BY 4.0"
    assert document["pue"] == 1.0 and "local machine" in document["pue_source"]
    assert document["energy_kwh"] == 1.0 and document["embodied"] is None
    assert document["notes"] == [] and document["tables_version"]
    assert [e["what"] for e in document["equivalents"]] == ["km by car", "phone charges of energy"]


def test_region_not_set_uses_the_world_average_and_says_how_to_set_it(isolated, result_of):
    carbon = assess(result_of(1_800_000))
    assert carbon.zone is None and carbon.intensity.kind == "world-average"
    assert carbon.operational_g == pytest.approx(0.5 * 475)
    assert carbon.intensity.year == 2018 and carbon.intensity.source == "IEA"
    (note,) = carbon.notes
    assert note.startswith("region not set: used the world average (475 gCO2e/kWh)")
    assert "--region" in note and "JOULEFLOW_REGION" in note and "[tool.jouleflow]" in note


def test_cloud_region_uses_the_provider_pue(isolated, result_of):
    carbon = assess(result_of(3_600_000), region="aws:us-east-1")
    assert carbon.pue.value == 1.15 and carbon.pue.year == 2023
    assert carbon.operational_g == pytest.approx(415.755 * 1.15)
    assert carbon.facility_energy_j == pytest.approx(3_600_000 * 1.15)
    assert carbon.intensity.year is None
    assert carbon.notes == ("the source gives no year for the aws:us-east-1 figure",)
    override = assess(result_of(3_600_000), region="aws:us-east-1", pue=1.0)
    assert override.operational_g == pytest.approx(415.755)


def test_us_state(isolated, result_of):
    carbon = assess(result_of(7_200_000), region="US-CA")
    assert carbon.operational_g == pytest.approx(2 * 394.769 * 0.45359237, rel=1e-12)
    assert carbon.intensity.year == 2023 and carbon.intensity.source == "US EPA eGRID2023"


def test_constant_intensity_overrides_the_table_and_says_so(isolated, result_of):
    carbon = assess(result_of(3_600_000), region="FR", intensity="56")
    assert carbon.operational_g == 56.0 and carbon.intensity.kind == "constant"
    assert carbon.notes == ("--intensity overrides the table value for FR (41.44 gCO2e/kWh)",)


def test_series_is_integrated_against_the_energy_timeline(isolated, result_of):
    path = grid_csv(isolated, [100, 200, 50])
    # a 2-hour run from 00:30: 0.5 kWh by 01:00, then 3 kWh by 02:30
    result = result_of(12_600_000, 2 * H, started_at="2024-05-01T00:30:00+00:00")
    timeline = [(MIDNIGHT + H, 1_800_000.0), (MIDNIGHT + 2.5 * H, 10_800_000.0)]
    carbon = assess(result, intensity=str(path), energy_timeline=timeline)
    # by hand: 0.5 x 100 + 3 x (200 x 1 h + 50 x 0.5 h) / 1.5 h = 50 + 450 = 500 g
    assert carbon.operational_g == pytest.approx(500.0, rel=1e-12)
    assert carbon.intensity.kind == "series" and carbon.intensity.year == 2024
    assert carbon.energy_profile == "the run's energy timeline (2 intervals)"
    assert carbon.notes == ()  # not region-dependent: no "region not set" note
    even = assess(result, intensity=str(path))  # no timeline: spread evenly over the run
    assert even.operational_g == pytest.approx(3.5 * 137.5)
    assert even.energy_profile.startswith("spread evenly")


def test_series_that_misses_the_run_falls_back_to_its_mean_and_says_so(isolated, result_of):
    path = grid_csv(isolated, [100, 300])
    carbon = assess(
        result_of(3_600_000, started_at="2025-01-01T00:00:00+00:00"), intensity=str(path)
    )
    assert carbon.intensity.kind == "series-mean" and carbon.operational_g == pytest.approx(200)
    assert "does not cover the run" in carbon.notes[0]


def test_embodied_counts_the_run_gpus(isolated, result_of):
    carbon = assess(result_of(0.0, 3600.0, gpus=2), region="FR", embodied=True)
    expected = (2 * 150 + 1000) * 1000 * 3600 / (4 * 365.25 * 86400)
    assert carbon.embodied.co2e_g == pytest.approx(expected, rel=1e-12)
    assert carbon.co2e_g == pytest.approx(expected) and carbon.operational_g == 0
    assert carbon.to_dict()["embodied"]["gpus"] == 2


def test_uncertainty_follows_the_energy(isolated, result_of):
    carbon = assess(result_of(3_600_000, uncertainty_j=36_000), region="FR")
    assert carbon.operational_uncertainty_g == pytest.approx(0.4144)


def test_energy_timeline_from_a_sampled_timeline(result_of):
    result = result_of(3.0, 2.0)  # window_ns starts at 1 s on the monotonic clock
    timeline = Timeline()
    timeline.append(10**9, (0.0,))
    timeline.append(10**9 + 5 * 10**8, (1_000_000.0,))  # +0.5 s: 1 J
    timeline.append(3 * 10**9, (3_000_000.0,))  # +2 s: 2 J more
    start = datetime.fromisoformat(result.started_at).timestamp()
    assert energy_timeline(timeline, result) == [(start + 0.5, 1.0), (start + 2.0, 2.0)]


def test_settings_or_options_not_both(isolated, result_of):
    settings = resolve_settings(region="FR")
    assert assess(result_of(), settings).zone.code == "FR"
    with pytest.raises(TypeError):
        assess(result_of(), settings, region="DE")


def test_energy_timeline_from_stored_samples_with_their_domain_order(result_of):
    result = result_of(2.0, 1.0, gpus=1)  # components: rapl:package-0, nvml:0
    samples = [(10**9, (0.0, 0.0)), (2 * 10**9, (5_000_000.0, 2_000_000.0))]
    start = datetime.fromisoformat(result.started_at).timestamp()
    both = energy_timeline(samples, result, domain_ids=["nvml:0", "rapl:package-0"])
    assert both == [(start + 1.0, 7.0)]
    unknown = energy_timeline(samples, result, domain_ids=["nvml:0", "not-in-the-result"])
    assert unknown == [(start + 1.0, 5.0)]


def test_estimated_energy_is_said_to_be_estimated(isolated):
    from jouleflow.records import ComponentEnergy, ComponentKind, Method, RunResult

    estimate = ComponentEnergy(
        id="estimate:cpu",
        kind=ComponentKind.CPU_ESTIMATE,
        energy_j=3_600_000,
        method=Method.ESTIMATE,
        source="tdp-model",
        uncertainty_j=1_000_000,
        label="CPU (estimated)",
    )
    result = RunResult(
        run_id="r",
        name=None,
        command=None,
        started_at="2024-05-01T00:00:00+00:00",
        window_ns=(0, 10**9),
        exit_code=0,
        status="completed",
        components=(estimate,),
        phases=(),
        unattributed_j={},
        sensors=(),
        warnings=(),
        host={},
        sample_interval_s=0.1,
        samples=2,
    )
    carbon = assess(result, region="FR")
    assert carbon.notes == (
        "100% of the energy is estimated, not measured; so is that share of the carbon",
    )
    assert carbon.operational_uncertainty_g == pytest.approx(41.44 / 3.6)
