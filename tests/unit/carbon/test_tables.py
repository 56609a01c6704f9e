"""The shipped carbon tables: schema, provenance on every row, and a deterministic build."""

import csv
import importlib.util
import json
import math
import sys
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "build_carbon_tables.py"
DATA = REPO / "src" / "jouleflow" / "carbon" / "data"
SHARED = REPO.parent / "shared" / "data"

PROVENANCE = ["value", "unit", "year", "source_id", "licence"]
SCHEMAS = {
    "countries.csv": ["zone", "alpha3", "name", *PROVENANCE],
    "us_states.csv": ["zone", "name", *PROVENANCE, "source_value", "source_unit"],
    "cloud_regions.csv": [
        "zone",
        "provider",
        "region",
        "location",
        *PROVENANCE,
        "upstream",
        "source_value",
        "source_unit",
    ],
    "factors.csv": ["key", "name", *PROVENANCE],
}
LICENCES = {
    "CC BY 4.0",
    "public domain (US government work)",
    "Apache-2.0 (compilation)",
    "facts; cite the source",
}


def read(name):
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header(name):
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def sources():
    return {r["source_id"]: r for r in read("sources.csv")}


@pytest.fixture
def build_script(monkeypatch):
    spec = importlib.util.spec_from_file_location("build_carbon_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_carbon_tables", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_each_table_has_its_schema_and_provenance_on_every_row(name, sources):
    assert header(name) == SCHEMAS[name]
    rows = read(name)
    assert rows
    for row in rows:
        value = float(row["value"])
        assert math.isfinite(value) and value >= 0, row
        assert row["unit"], row
        assert row["year"] == "" or 1990 <= int(row["year"]) <= 2030, row
        assert row["source_id"] in sources, row
        assert row["licence"] in LICENCES, row
        assert row["licence"] == sources[row["source_id"]]["licence"], row


def test_zone_tables_are_sorted_unique_and_in_g_per_kwh():
    for name in ("countries.csv", "us_states.csv", "cloud_regions.csv"):
        zones = [r["zone"] for r in read(name)]
        assert zones == sorted(zones) and len(set(zones)) == len(zones), name
        assert {r["unit"] for r in read(name)} == {"gCO2e/kWh"}, name


def test_countries_have_both_iso_codes_and_cc_by_attribution(sources):
    rows = read("countries.csv")
    assert len(rows) > 200
    by_code = {r["zone"]: r for r in rows}
    assert by_code["FR"]["alpha3"] == "FRA" and by_code["FR"]["name"] == "France"
    assert by_code["GB"]["alpha3"] == "GBR" and by_code["US"]["alpha3"] == "USA"
    for r in rows:
        assert len(r["zone"]) == 2 and r["zone"].isupper()
        assert len(r["alpha3"]) == 3 and r["alpha3"].isupper()
        assert r["year"], r  # Ember gives the data year of every country
    assert {r["licence"] for r in rows} == {"CC BY 4.0"}
    attribution = (DATA / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "Ember (2026), with major processing by Our World in Data" in attribution
    assert "CC BY 4.0" in attribution and "creativecommons.org/licenses/by/4.0" in attribution


def test_us_states_are_egrid_converted_exactly_from_lbs_per_mwh():
    rows = read("us_states.csv")
    assert len(rows) == 51  # 50 states and DC
    for r in rows:
        assert r["zone"].startswith("US-") and r["source_unit"] == "lbs/MWh"
        exact = Decimal(r["source_value"]) * Decimal("453.59237") / 1000
        assert Decimal(r["value"]) == exact, r
    california = next(r for r in rows if r["zone"] == "US-CA")
    assert california["source_value"] == "394.769" and california["year"] == "2023"
    assert california["value"] == "179.06420631253"  # 394.769 x 0.45359237, by hand


def test_cloud_regions_cover_three_providers_in_their_own_spelling():
    rows = {r["zone"]: r for r in read("cloud_regions.csv")}
    assert rows["aws:us-east-1"]["value"] == "415.755"  # 0.000415755 t/kWh x 1e6
    assert rows["aws:us-east-1"]["upstream"] == "EPA"
    assert rows["azure:westeurope"]["value"] == "390" and rows["azure:westeurope"]["location"]
    assert rows["gcp:europe-west1"]["value"] == "126.43"
    assert {r["provider"] for r in rows.values()} == {"aws", "azure", "gcp"}
    for r in rows.values():
        assert r["zone"] == f"{r['provider']}:{r['region']}"
        if r["source_unit"] == "tCO2e/kWh":
            assert Decimal(r["value"]) == Decimal(r["source_value"]) * 1_000_000


def test_factors_cite_their_sources(sources):
    factors = {r["key"]: r for r in read("factors.csv")}
    assert factors["world"]["value"] == "475" and factors["world"]["unit"] == "gCO2e/kWh"
    assert factors["pue:aws"]["value"] == "1.15" and factors["pue:gcp"]["value"] == "1.1"
    assert factors["embodied:gpu"]["value"] == "150" and factors["embodied:gpu"]["unit"] == "kgCO2e"
    assert factors["embodied:server"]["value"] == "1000"
    assert factors["embodied:life"]["value"] == "4" and factors["embodied:life"]["unit"] == "years"
    for key in ("equivalent:car", "equivalent:phone"):
        assert sources[factors[key]["source_id"]]["url"].startswith("https://")


def test_sources_table_describes_every_source(sources):
    assert header("sources.csv") == [
        "source_id",
        "short",
        "title",
        "publisher",
        "url",
        "licence",
        "attribution",
    ]
    for source_id, row in sources.items():
        assert row["short"] and row["title"] and row["publisher"] and row["attribution"], source_id
        assert row["url"].startswith("https://"), source_id


def test_manifest_matches_the_tables():
    import hashlib

    manifest = json.loads((DATA / "manifest.json").read_text())
    assert manifest["tables_version"].startswith(f"{manifest['schema_version']}.")
    for name, entry in manifest["tables"].items():
        data = (DATA / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["rows"] == len(read(name))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the repository")
def test_committed_tables_are_what_the_script_builds(tmp_path, build_script):
    build_script.build(SHARED, tmp_path / "a")
    build_script.build(SHARED, tmp_path / "b")
    for path in sorted(DATA.iterdir()):
        if path.is_file():
            built = (tmp_path / "a" / path.name).read_bytes()
            assert built == path.read_bytes(), f"{path.name} is stale: rerun the script"
            assert built == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_the_script_rejects_an_unknown_country_code(tmp_path, build_script):
    source = tmp_path / "src" / "carbon"
    source.mkdir(parents=True)
    (source / "country_intensity_ember_owid.json").write_text(
        json.dumps(
            {
                "license": "CC BY 4.0 https://creativecommons.org/licenses/by/4.0/",
                "countries": [{"name": "zz", "co2g_kwh": 1.0, "year": 2024}],
            }
        )
    )
    (source / "country_energy_mix_owid.json").write_text("{}")
    with pytest.raises(SystemExit, match="'ZZ' is not an ISO 3166 alpha-2 code"):
        build_script.build_countries(tmp_path / "src", tmp_path / "out")
