"""A finished run's carbon: which intensity, which PUE, from where, and how many grams.

``assess(result, ...)`` is a pure function of the run result, the resolved settings and
(optionally) the run's energy timeline; only ``--intensity live`` touches the network, and that
never fails the assessment: it falls back and says so in ``notes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jouleflow.carbon.convert import (
    EmbodiedCarbon,
    Equivalent,
    embodied_carbon,
    equivalents,
    operational_g,
)
from jouleflow.carbon.intensity import INTENSITY_UNIT, Zone
from jouleflow.carbon.series import (
    EnergyInterval,
    IntensitySeries,
    integrate,
    profile_from_increments,
)
from jouleflow.carbon.settings import CarbonSettings, Pue, region_fix, resolve_settings
from jouleflow.errors import ConfigError
from jouleflow.records import ComponentKind, RunResult
from jouleflow.units import J_PER_KWH

SCHEMA = 1
EnergyTimeline = Sequence[tuple[datetime | float, float]]


@dataclass(frozen=True, slots=True)
class IntensityUsed:
    """The intensity applied to the run's energy, and where it came from."""

    g_per_kwh: float
    kind: str  # table | world-average | constant | series | series-mean | live
    source: str
    source_id: str | None = None
    year: int | None = None
    licence: str | None = None
    detail: str | None = None
    citation: str | None = None


@dataclass(frozen=True, slots=True)
class CarbonAssessment:
    """The carbon of one run; ``to_dict()`` is the result document's ``carbon`` object."""

    energy_j: float
    energy_uncertainty_j: float
    duration_s: float
    zone: Zone | None
    region_origin: str
    intensity: IntensityUsed
    pue: Pue
    operational_g: float
    embodied: EmbodiedCarbon | None
    equivalents: tuple[Equivalent, ...]
    notes: tuple[str, ...]
    energy_profile: str
    tables_version: str
    series: IntensitySeries | None = field(default=None, compare=False, repr=False)
    profile: tuple[EnergyInterval, ...] = field(default=(), compare=False, repr=False)

    @property
    def co2e_g(self) -> float:
        """Operational plus, when asked for, embodied grams CO2e."""
        return self.operational_g + (self.embodied.co2e_g if self.embodied else 0.0)

    @property
    def facility_energy_j(self) -> float:
        return self.energy_j * self.pue.value

    @property
    def operational_uncertainty_g(self) -> float:
        """From the energy's uncertainty only: intensity figures come without one."""
        if self.energy_j <= 0:
            return 0.0
        return self.operational_g * self.energy_uncertainty_j / self.energy_j

    def to_dict(self) -> dict[str, Any]:
        zone = self.zone
        return {
            "schema": SCHEMA,
            "co2e_g": self.co2e_g,
            "operational_co2e_g": self.operational_g,
            "operational_uncertainty_g": self.operational_uncertainty_g,
            "embodied_co2e_g": self.embodied.co2e_g if self.embodied else None,
            "energy_j": self.energy_j,
            "energy_kwh": self.energy_j / J_PER_KWH,
            "facility_energy_j": self.facility_energy_j,
            "zone": zone.code if zone else None,
            "zone_name": zone.name if zone else None,
            "zone_kind": zone.kind if zone else None,
            "region_source": self.region_origin,
            "intensity_g_per_kwh": self.intensity.g_per_kwh,
            "intensity_unit": INTENSITY_UNIT,
            "intensity_kind": self.intensity.kind,
            "intensity_source": self.intensity.source,
            "intensity_source_id": self.intensity.source_id,
            "intensity_year": self.intensity.year,
            "intensity_licence": self.intensity.licence,
            "intensity_detail": self.intensity.detail,
            "intensity_citation": self.intensity.citation,
            "pue": self.pue.value,
            "pue_source": self.pue.source,
            "pue_year": self.pue.year,
            "embodied": self.embodied.to_dict() if self.embodied else None,
            "equivalents": [e.to_dict() for e in self.equivalents],
            "energy_profile": self.energy_profile,
            "method": "operational_co2e_g = energy_j / 3,600,000 J/kWh x intensity_g_per_kwh x pue",
            "notes": list(self.notes),
            "tables_version": self.tables_version,
        }


def run_start_s(result: RunResult) -> float:
    """The run's start in unix seconds, from its ``started_at`` label."""
    try:
        started = datetime.fromisoformat(result.started_at.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"the result's started_at {result.started_at!r} is not a time") from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return started.timestamp()


def energy_timeline(
    samples: Iterable[tuple[int, Sequence[float]]],
    result: RunResult,
    domain_ids: Sequence[str] | None = None,
) -> list[tuple[float, float]]:
    """(unix seconds at the end of each sample interval, J of the run's total in it): the
    shape ``assess(energy_timeline=...)`` takes.

    ``samples`` are (t_ns on the run's monotonic clock, cumulative µJ per domain), as a
    ``Run.timeline`` iterates or a run store returns them; their domains are in the order of
    ``result.components`` unless ``domain_ids`` names them.
    """
    start_s = run_start_s(result)
    t0 = result.window_ns[0]
    in_total = {c.id: c.in_total for c in result.components}
    ids = list(domain_ids) if domain_ids is not None else [c.id for c in result.components]
    mask = [in_total.get(i, False) for i in ids]
    out: list[tuple[float, float]] = []
    previous: float | None = None
    for t_ns, cum_uj in samples:
        total_j = sum(v for v, keep in zip(cum_uj, mask) if keep) / 1e6
        if previous is not None:
            out.append((start_s + (t_ns - t0) / 1e9, max(total_j - previous, 0.0)))
        previous = total_j
    return out


def _stamp(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _table_intensity(settings: CarbonSettings, notes: list[str]) -> IntensityUsed:
    tables = settings.tables
    zone = settings.zone
    if zone is None:
        world = tables.world()
        notes.append(
            f"region not set: used the world average ({world.intensity_g_per_kwh:g} "
            f"{INTENSITY_UNIT}); {region_fix()}"
        )
        return IntensityUsed(
            world.intensity_g_per_kwh,
            "world-average",
            tables.source_name(world.source_id),
            world.source_id,
            world.year,
            world.licence,
            "world average",
            tables.citation(world.source_id),
        )
    upstream = f"; published by {zone.upstream}" if zone.upstream else ""
    if zone.year is None:
        notes.append(f"the source gives no year for the {zone.code} figure")
    return IntensityUsed(
        zone.intensity_g_per_kwh,
        "table" if zone.kind != "world" else "world-average",
        tables.source_name(zone.source_id),
        zone.source_id,
        zone.year,
        zone.licence,
        f"{zone.label}{upstream}",
        tables.citation(zone.source_id),
    )


def covers(series: IntensitySeries, profile: Sequence[EnergyInterval]) -> bool:
    """Whether any of the run's time falls inside the series."""
    start, end = profile[0].start_s, profile[-1].end_s
    if end > start:
        return series.covered_s(start, end) > 0
    return series.begin_s <= start < series.end_s


def _series_intensity(
    series: IntensitySeries, profile: tuple[EnergyInterval, ...], kind: str, notes: list[str]
) -> IntensityUsed:
    start = profile[0].start_s
    span = f"{len(series.start_s)} steps, {_stamp(series.begin_s)} to {_stamp(series.end_s)}"
    notes.extend(series.notes)
    if not covers(series, profile):
        mean = series.mean_over(series.begin_s, series.end_s)
        notes.append(
            f"the intensity series ({_stamp(series.begin_s)} to {_stamp(series.end_s)}) does "
            f"not cover the run ({_stamp(start)}): used the series' time-weighted mean"
        )
        return IntensityUsed(mean, "series-mean", series.source, detail=span)
    result = integrate(series, profile)
    if result.energy_j > 0 and result.uncovered_j > 0:
        share = result.uncovered_j / result.energy_j
        notes.append(
            f"{share:.0%} of the energy fell outside the intensity series; the nearest value "
            "was used for it"
        )
    year = datetime.fromtimestamp(start, timezone.utc).year
    return IntensityUsed(result.g_per_kwh, kind, series.source, year=year, detail=span)


def assess(
    result: RunResult,
    settings: CarbonSettings | None = None,
    *,
    region: str | None = None,
    pue: float | str | None = None,
    intensity: float | str | None = None,
    embodied: object = None,
    energy_timeline: EnergyTimeline | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> CarbonAssessment:
    """The carbon of ``result``.

    Give either ``settings`` (resolved up front, as ``carbon_options`` does, so bad input fails
    before a run starts) or the options themselves: ``region`` (``FR``, ``US-CA``,
    ``aws:us-east-1``...), ``pue``, ``intensity`` (gCO2e/kWh, a CSV path, ``live``) and
    ``embodied`` (``True`` or ``"gpu=318,life=5"``); unset ones come from the environment and
    the config file. ``energy_timeline``: (end time, J) increments covering the run (see
    ``energy_timeline()``), so a time series is weighed by when the energy was used; without
    it the energy is taken as spread evenly over the run.
    """
    if settings is None:
        settings = resolve_settings(
            region=region,
            pue=pue,
            intensity=intensity,
            embodied=embodied,
            cwd=cwd,
            environ=environ,
        )
    elif any(v is not None for v in (region, pue, intensity, embodied)):
        raise TypeError("give either settings or the options, not both")
    tables = settings.tables
    energy_j = result.total_j
    notes: list[str] = []
    choice = settings.intensity

    profile: tuple[EnergyInterval, ...] = ()
    profile_text = "not needed (one intensity for the whole run)"
    if choice.kind in ("series", "live"):
        start = run_start_s(result)
        if energy_timeline:
            profile = profile_from_increments(energy_timeline, start)
            profile_text = f"the run's energy timeline ({len(profile)} intervals)"
        else:
            profile = (EnergyInterval(start, start + result.duration_s, energy_j),)
            profile_text = "spread evenly over the run (no energy timeline was given)"

    series: IntensitySeries | None = None
    if choice.kind == "constant":
        assert choice.constant is not None
        used = IntensityUsed(choice.constant, "constant", f"given by {choice.origin}")
        if settings.zone is not None:
            notes.append(
                f"--intensity overrides the table value for {settings.zone.code} "
                f"({settings.zone.intensity_g_per_kwh:g} {INTENSITY_UNIT})"
            )
    elif choice.kind == "series":
        assert choice.series is not None
        series = choice.series
        used = _series_intensity(series, profile, "series", notes)
    elif choice.kind == "live":
        assert settings.live is not None and choice.live_zone is not None
        live = settings.live.history(choice.live_zone)
        if live.note:
            notes.append(live.note)
        if live.series is not None and covers(live.series, profile):
            series = live.series
            used = _series_intensity(series, profile, "live", notes)
        elif live.series is not None:
            series = live.series
            notes.append(
                f"the live data ({_stamp(series.begin_s)} to {_stamp(series.end_s)}) does not "
                "cover the run: used the shipped table value"
            )
            used = _table_intensity(settings, notes)
        else:
            notes.append("used the shipped table value instead")
            used = _table_intensity(settings, notes)
    else:
        used = _table_intensity(settings, notes)

    if energy_j > 0 and result.estimated_j / energy_j >= 0.01:
        notes.append(
            f"{result.estimated_j / energy_j:.0%} of the energy is estimated, not measured; "
            "so is that share of the carbon"
        )
    pue_used = settings.pue_for(settings.zone)
    embodied_part = None
    if settings.embodied is not None:
        gpus = len({c.id for c in result.components if c.kind is ComponentKind.GPU})
        embodied_part = embodied_carbon(settings.embodied, result.duration_s, gpus, tables)
    operational = operational_g(energy_j, used.g_per_kwh, pue_used.value)
    total = operational + (embodied_part.co2e_g if embodied_part else 0.0)
    return CarbonAssessment(
        energy_j=energy_j,
        energy_uncertainty_j=result.total_uncertainty_j,
        duration_s=result.duration_s,
        zone=settings.zone,
        region_origin=settings.region_origin,
        intensity=used,
        pue=pue_used,
        operational_g=operational,
        embodied=embodied_part,
        equivalents=equivalents(total, energy_j * pue_used.value, tables),
        notes=tuple(notes),
        energy_profile=profile_text,
        tables_version=tables.version,
        series=series,
        profile=profile,
    )
