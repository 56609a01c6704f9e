"""Energy x intensity x PUE, by hand, for a few zones; embodied share; equivalents."""

import pytest

from jouleflow.carbon import load_tables, lookup_zone, operational_g
from jouleflow.carbon.convert import embodied_carbon, equivalents, format_co2e
from jouleflow.carbon.settings import EmbodiedSpec


def test_one_kwh_gives_the_intensity_in_grams():
    assert operational_g(3_600_000, 56.0, 1.0) == 56.0


@pytest.mark.parametrize(
    ("zone", "energy_j", "pue", "grams"),
    [
        ("FR", 7_200_000, 1.0, 2 * 41.44),  # 2 kWh at 41.44 g/kWh
        ("US-CA", 3_600_000, 1.0, 394.769 * 0.45359237),  # 1 kWh; lb/MWh -> g/kWh
        ("aws:us-east-1", 1_800_000, 1.15, 0.5 * 415.755 * 1.15),  # 0.5 kWh with AWS PUE
        ("gcp:europe-west1", 360_000, 1.1, 0.1 * 126.43 * 1.1),
    ],
)
def test_conversion_against_hand_computed_values(zone, energy_j, pue, grams):
    intensity = lookup_zone(zone).intensity_g_per_kwh
    assert operational_g(energy_j, intensity, pue) == pytest.approx(grams, rel=1e-12)


def test_embodied_share_is_amortised_over_the_life():
    tables = load_tables()
    spec = EmbodiedSpec(gpu_kg=150.0, server_kg=1000.0, life_years=4.0)
    one_day = embodied_carbon(spec, 86_400.0, measured_gpus=8, tables=tables)
    # (8 x 150 + 1 x 1000) kg over 4 x 365.25 days, one day of it
    assert one_day.co2e_g == pytest.approx(2200 * 1000 / (4 * 365.25), rel=1e-12)
    assert one_day.gpus == 8 and one_day.gpus_from == "GPUs the run measured"
    override = EmbodiedSpec(gpu_kg=318.0, server_kg=0.0, life_years=5.0, gpus=1)
    hour = embodied_carbon(override, 3600.0, measured_gpus=8, tables=tables)
    assert hour.co2e_g == pytest.approx(318_000 / (5 * 8766), rel=1e-12)
    assert hour.gpus == 1 and hour.gpus_from == "embodied setting"


def test_equivalents_say_their_basis_and_source():
    car, phone = equivalents(248.548477, 3_600_000 * 0.0116, load_tables())
    assert car.what == "km by car" and car.value == pytest.approx(1.0, rel=1e-6)
    assert "400 gCO2/mile" in car.basis and car.source == "US EPA"
    assert phone.value == pytest.approx(1.0) and "11.6 Wh" in phone.basis


@pytest.mark.parametrize(
    ("grams", "text"),
    [
        (0.0, "0.000 g CO2e"),
        (0.01234, "12.340 mg CO2e"),
        (1.5, "1.500 g CO2e"),
        (41.44, "41.44 g CO2e"),
        (1234.5, "1.234 kg CO2e"),
        (2_500_000, "2.500 t CO2e"),
        (0.0000005, "0.500 µg CO2e"),
    ],
)
def test_format_co2e(grams, text):
    assert format_co2e(grams) == text
