"""Grid carbon intensity by place: the shipped tables, zone codes, and closest matches.

A zone is where the electricity came from:

- a country, by ISO 3166-1 alpha-2 or alpha-3 code (``FR``, ``FRA``): Ember via Our World in Data;
- a US state (``US-CA``): EPA eGRID, converted from lb/MWh to g/kWh exactly;
- a cloud region (``aws:us-east-1``, ``gcp:europe-west1``, ``azure:westeurope``): Cloud Carbon
  Footprint's compilation, with the provider's PUE where it publishes one;
- ``WORLD``: the world average, used (and said to be used) when no region is set.

Every figure keeps its unit, year, source id and licence; ``sources.csv`` says what each source
id is. The tables are built by ``scripts/build_carbon_tables.py``; see ``data/PROVENANCE.md``.
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from jouleflow.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parent / "data"
INTENSITY_UNIT = "gCO2e/kWh"
ZONE_HELP = (
    "use an ISO 3166 country code (FR or FRA), a US state (US-CA), or a cloud region "
    "(aws:us-east-1, gcp:europe-west1, azure:westeurope); WORLD for the world average"
)
PROVIDERS = {"aws": "AWS", "gcp": "Google Cloud", "azure": "Microsoft Azure"}


@dataclass(frozen=True, slots=True)
class Zone:
    """One place with a grid carbon intensity, and where that figure comes from."""

    code: str  # canonical: FR, US-CA, aws:us-east-1, WORLD
    kind: str  # country | us-state | cloud | world
    name: str
    intensity_g_per_kwh: float
    year: int | None
    source_id: str
    licence: str
    alpha3: str | None = None
    provider: str | None = None  # aws | gcp | azure, for cloud regions
    upstream: str | None = None  # who the compiler says published the factor

    @property
    def label(self) -> str:
        return f"{self.code} ({self.name})" if self.name and self.name != self.code else self.code


@dataclass(frozen=True, slots=True)
class Factor:
    """A cited constant: a provider's PUE, an embodied-carbon default, an equivalent."""

    key: str
    name: str
    value: float
    unit: str
    year: int | None
    source_id: str
    licence: str


@dataclass(frozen=True, slots=True)
class SourceInfo:
    source_id: str
    short: str
    title: str
    publisher: str
    url: str
    licence: str
    attribution: str


def _year(text: str) -> int | None:
    return int(text) if text.strip() else None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class CarbonTables:
    """The shipped tables, loaded from ``data_dir`` (default: the package's own)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or DATA_DIR
        manifest = json.loads((self.data_dir / "manifest.json").read_text(encoding="utf-8"))
        self.version: str = manifest["tables_version"]
        self.sources = {
            r["source_id"]: SourceInfo(**r) for r in _rows(self.data_dir / "sources.csv")
        }
        self.factors = {
            r["key"]: Factor(
                key=r["key"],
                name=r["name"],
                value=float(r["value"]),
                unit=r["unit"],
                year=_year(r["year"]),
                source_id=r["source_id"],
                licence=r["licence"],
            )
            for r in _rows(self.data_dir / "factors.csv")
        }
        zones: dict[str, Zone] = {}
        for r in _rows(self.data_dir / "countries.csv"):
            zones[r["zone"]] = Zone(
                code=r["zone"],
                kind="country",
                name=r["name"],
                intensity_g_per_kwh=float(r["value"]),
                year=_year(r["year"]),
                source_id=r["source_id"],
                licence=r["licence"],
                alpha3=r["alpha3"],
            )
        for r in _rows(self.data_dir / "us_states.csv"):
            zones[r["zone"]] = Zone(
                code=r["zone"],
                kind="us-state",
                name=r["name"],
                intensity_g_per_kwh=float(r["value"]),
                year=_year(r["year"]),
                source_id=r["source_id"],
                licence=r["licence"],
            )
        for r in _rows(self.data_dir / "cloud_regions.csv"):
            provider = r["provider"]
            location = f", {r['location']}" if r["location"] else ""
            zones[r["zone"]] = Zone(
                code=r["zone"],
                kind="cloud",
                name=f"{PROVIDERS.get(provider, provider)} {r['region']}{location}",
                intensity_g_per_kwh=float(r["value"]),
                year=_year(r["year"]),
                source_id=r["source_id"],
                licence=r["licence"],
                provider=provider,
                upstream=r["upstream"] or None,
            )
        world = self.factors["world"]
        zones["WORLD"] = Zone(
            code="WORLD",
            kind="world",
            name="world average",
            intensity_g_per_kwh=world.value,
            year=world.year,
            source_id=world.source_id,
            licence=world.licence,
        )
        self.zones = zones
        self._keys: dict[str, str] = {}  # normalised spelling -> canonical code
        for code, zone in zones.items():
            self._keys[_normalise(code)] = code
            if zone.alpha3:
                self._keys[_normalise(zone.alpha3)] = code

    def world(self) -> Zone:
        return self.zones["WORLD"]

    def find(self, code: str) -> Zone | None:
        canonical = self._keys.get(_normalise(code))
        return self.zones[canonical] if canonical else None

    def zone(self, code: str) -> Zone:
        """The zone for ``code`` in any of its spellings, or a ConfigError with the closest."""
        zone = self.find(code)
        if zone is None:
            raise ConfigError(self._unknown_message(code), fix=ZONE_HELP)
        return zone

    def closest(self, code: str, n: int = 5) -> list[Zone]:
        """Zones whose code or name is closest to ``code`` (difflib ratio), best first."""
        query = _normalise(code)
        candidates: dict[str, str] = dict(self._keys)
        for canonical, zone in self.zones.items():
            if zone.kind != "cloud" and zone.name:
                candidates.setdefault(zone.name.lower(), canonical)
        found: list[Zone] = []
        for key in difflib.get_close_matches(query, list(candidates), n=n * 3, cutoff=0.6):
            zone = self.zones[candidates[key]]
            if zone not in found:
                found.append(zone)
        return found[:n]

    def _unknown_message(self, code: str) -> str:
        matches = self.closest(code)
        if matches:
            listed = ", ".join(z.label for z in matches)
            return f"unknown zone {code!r}; closest matches: {listed}"
        return f"unknown zone {code!r}; no zone code is close to it"

    def provider_pue(self, provider: str) -> Factor | None:
        return self.factors.get(f"pue:{provider}")

    def factor(self, key: str) -> Factor:
        return self.factors[key]

    def source_name(self, source_id: str) -> str:
        """A short human-readable name of the source ("Ember via Our World in Data")."""
        info = self.sources.get(source_id)
        return info.short if info else source_id

    def citation(self, source_id: str) -> str:
        """The source's publisher and title, for reports."""
        info = self.sources.get(source_id)
        return f"{info.publisher}: {info.title} <{info.url}>" if info else source_id


def _normalise(code: str) -> str:
    text = code.strip().lower()
    provider, sep, region = text.partition(":")
    if sep:
        return f"{provider.strip()}:{''.join(region.split())}"
    return "-".join(text.replace("_", "-").split())


@functools.lru_cache(maxsize=4)
def _cached(data_dir: Path | None) -> CarbonTables:
    return CarbonTables(data_dir)


def load_tables(data_dir: Path | None = None) -> CarbonTables:
    """The tables in ``data_dir`` (default: the shipped ones), read once per folder."""
    return _cached(data_dir)


def lookup_zone(code: str, *, tables: CarbonTables | None = None) -> Zone:
    """The zone for ``code`` (``FR``, ``FRA``, ``US-CA``, ``aws:us-east-1``...).

    Raises ConfigError listing the closest matches when the code is unknown.
    """
    return (tables or load_tables()).zone(code)
