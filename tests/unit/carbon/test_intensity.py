"""Zones: every spelling of a code finds the same zone; unknown codes list the closest."""

import pytest

from jouleflow.carbon import load_tables, lookup_zone
from jouleflow.errors import ConfigError


@pytest.mark.parametrize("code", ["FR", "fr", "FRA", "fra", " Fr "])
def test_alpha2_and_alpha3_codes_name_the_same_country(code):
    zone = lookup_zone(code)
    assert zone.code == "FR" and zone.kind == "country" and zone.alpha3 == "FRA"
    assert zone.name == "France"
    assert zone.intensity_g_per_kwh == 41.44 and zone.year == 2025
    assert zone.source_id == "ember-owid-2026" and zone.licence == "CC BY 4.0"


def test_us_states_in_g_per_kwh():
    zone = lookup_zone("us-ca")
    assert zone.code == "US-CA" and zone.kind == "us-state" and zone.name == "California"
    assert zone.intensity_g_per_kwh == pytest.approx(394.769 * 453.59237 / 1000, rel=1e-15)
    assert zone.year == 2023 and zone.source_id == "epa-egrid2023"


@pytest.mark.parametrize(
    ("code", "canonical", "provider"),
    [
        ("aws:us-east-1", "aws:us-east-1", "aws"),
        ("AWS:US-EAST-1", "aws:us-east-1", "aws"),
        ("gcp:europe-west1", "gcp:europe-west1", "gcp"),
        ("azure:westeurope", "azure:westeurope", "azure"),
        ("azure:West Europe", "azure:westeurope", "azure"),
    ],
)
def test_cloud_regions(code, canonical, provider):
    zone = lookup_zone(code)
    assert zone.code == canonical and zone.kind == "cloud" and zone.provider == provider
    assert zone.year is None  # the compilations give none; results say so


def test_world_is_a_zone_of_its_own():
    zone = lookup_zone("world")
    assert zone.kind == "world" and zone.intensity_g_per_kwh == 475


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("us-east-1", "aws:us-east-1"),  # the provider left out
        ("Frnace", "FR"),  # a misspelt country name
        ("gcp:europe-west-1", "gcp:europe-west1"),
        ("US-CAL", "US-CA"),
    ],
)
def test_unknown_zone_lists_the_closest_matches(code, expected):
    with pytest.raises(ConfigError) as caught:
        lookup_zone(code)
    message = str(caught.value)
    assert f"unknown zone {code!r}; closest matches: " in message
    assert expected in message
    assert "fix:" in message and "aws:us-east-1" in message  # says what a zone looks like


def test_nothing_close_says_so():
    with pytest.raises(ConfigError, match="no zone code is close"):
        lookup_zone("qqqqqqqqqqqqqqq")


def test_provider_pue_and_tables_version():
    tables = load_tables()
    assert tables.provider_pue("aws").value == 1.15
    assert tables.provider_pue("gcp").value == 1.1
    assert tables.provider_pue("azure").value == 1.18
    assert tables.provider_pue("other") is None
    assert tables.version.startswith("1.")
