"""What if the run had happened elsewhere, or at another time?

- ``compare_zones``: the same energy in other zones, each at the PUE it would get as
  ``--region`` (the override if given, the provider's figure for a cloud region, else 1.0).
- ``flexible_start``: with an intensity series, the carbon had the run started at each step of
  the series within a window (24 h: every hour of the day), its energy profile unchanged.
- ``pause_when_dirty``: the run may take up to (1 + extra) times as long and runs only in the
  cleanest parts of that window, at its average power.

Both time-shifting strategies follow Dodge et al. 2022, "Measuring the Carbon Intensity of AI in
Cloud Instances" (FAccT '22), "Flexible Start" and "Pause and Resume". They are only as good as
the series: see ``CAVEAT``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jouleflow.carbon.assess import CarbonAssessment
from jouleflow.carbon.convert import operational_g
from jouleflow.carbon.intensity import Zone
from jouleflow.carbon.series import EnergyInterval, IntensitySeries, integrate
from jouleflow.carbon.settings import CarbonSettings, Pue
from jouleflow.units import J_PER_KWH

CAVEAT = (
    "These time-shifting estimates are only as good as the intensity series. Grid averages "
    "(what most series, and the shipped tables, give) describe the mix that was generated, not "
    "what an extra or avoided kWh changes (the marginal intensity); moving load to hours with "
    "a low average does not guarantee a proportional real reduction. Method after Dodge et al. "
    '2022, "Measuring the Carbon Intensity of AI in Cloud Instances", FAccT.'
)
MAX_PROFILE_INTERVALS = 2000
DEFAULT_WINDOW_H = 24.0
DEFAULT_PAUSE_EXTRA = 1.0


@dataclass(frozen=True, slots=True)
class ZoneComparison:
    zone: Zone
    pue: Pue
    operational_g: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone.code,
            "zone_name": self.zone.name,
            "intensity_g_per_kwh": self.zone.intensity_g_per_kwh,
            "intensity_year": self.zone.year,
            "intensity_source_id": self.zone.source_id,
            "pue": self.pue.value,
            "pue_source": self.pue.source,
            "operational_co2e_g": self.operational_g,
        }


def compare_zones(
    energy_j: float, zones: Sequence[Zone], settings: CarbonSettings
) -> tuple[ZoneComparison, ...]:
    """Operational carbon of ``energy_j`` in each zone, at that zone's table intensity."""
    out = []
    for zone in zones:
        pue = settings.pue_for(zone)
        out.append(
            ZoneComparison(zone, pue, operational_g(energy_j, zone.intensity_g_per_kwh, pue.value))
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class StartOption:
    start_s: float
    g_per_kwh: float  # energy-weighted intensity the run would have seen
    operational_g: float


@dataclass(frozen=True, slots=True)
class FlexibleStart:
    window_h: float
    actual: StartOption | None  # None when the series does not cover the run's own start
    options: tuple[StartOption, ...]

    @property
    def best(self) -> StartOption:
        return min(self.options, key=lambda o: (o.operational_g, o.start_s))

    @property
    def worst(self) -> StartOption:
        return max(self.options, key=lambda o: (o.operational_g, -o.start_s))


@dataclass(frozen=True, slots=True)
class PauseWhenDirty:
    extra: float  # allowed extra time, as a fraction of the run's duration
    start_s: float
    finish_s: float
    baseline_g: float  # same start, no pauses, same average power
    operational_g: float
    pauses: int


def _coarsen(profile: Sequence[EnergyInterval], limit: int) -> tuple[EnergyInterval, ...]:
    """At most ``limit`` intervals, merging neighbours (keeps total energy and span)."""
    if len(profile) <= limit:
        return tuple(profile)
    size = -(-len(profile) // limit)
    out = []
    for k in range(0, len(profile), size):
        group = profile[k : k + size]
        out.append(
            EnergyInterval(group[0].start_s, group[-1].end_s, sum(p.energy_j for p in group))
        )
    return tuple(out)


def flexible_start(
    profile: Sequence[EnergyInterval],
    series: IntensitySeries,
    pue: float,
    window_h: float = DEFAULT_WINDOW_H,
    energy_j: float | None = None,
) -> FlexibleStart | None:
    """The run's carbon for each start at a series step within ``window_h`` hours of its own
    start (or of the series' start, when the series is from another time), where the whole run
    fits in the series. None when it fits nowhere."""
    if not profile:
        return None
    shaped = _coarsen(profile, MAX_PROFILE_INTERVALS)
    start, end = shaped[0].start_s, shaped[-1].end_s
    duration = end - start
    total_j = sum(p.energy_j for p in shaped) if energy_j is None else energy_j

    def option(at_s: float) -> StartOption:
        found = integrate(series, shaped, at_s - start)
        return StartOption(at_s, found.g_per_kwh, operational_g(total_j, found.g_per_kwh, pue))

    own = series.begin_s <= start and end <= series.end_s
    origin = start if own else series.begin_s
    limit = origin + window_h * 3600.0
    starts = [t for t in series.start_s if origin <= t < limit and t + duration <= series.end_s]
    if own and start not in starts:
        starts.append(start)
    if not starts:
        return None
    options = tuple(option(t) for t in sorted(starts))
    actual = next((o for o in options if o.start_s == start), None) if own else None
    return FlexibleStart(window_h, actual, options)


def pause_when_dirty(
    profile: Sequence[EnergyInterval],
    series: IntensitySeries,
    pue: float,
    extra: float = DEFAULT_PAUSE_EXTRA,
    energy_j: float | None = None,
) -> PauseWhenDirty | None:
    """Run only in the cleanest parts of [start, start + duration x (1 + extra)], at the run's
    average power; start at the run's own start if the series covers it, else at the series'
    start. None when the run has no duration or the window does not fit in the series."""
    if not profile:
        return None
    start, end = profile[0].start_s, profile[-1].end_s
    duration = end - start
    if energy_j is None:
        energy_j = sum(p.energy_j for p in profile)
    if duration <= 0:
        return None
    origin = start if series.begin_s <= start < series.end_s else series.begin_s
    window_end = min(origin + duration * (1.0 + extra), series.end_s)
    if window_end - origin < duration:
        return None
    pieces = sorted(series.segments(origin, window_end), key=lambda s: (s[2], s[0]))
    chosen: list[tuple[float, float, float]] = []
    left = duration
    for a, b, value in pieces:
        if left <= 0:
            break
        take = min(b - a, left)
        chosen.append((a, a + take, value))
        left -= take
    power_w = energy_j / duration
    grams = sum(power_w * (b - a) / J_PER_KWH * value * pue for a, b, value in chosen)
    chosen.sort()
    pauses = sum(1 for (_, b, _), (a, _, _) in itertools.pairwise(chosen) if a > b)
    baseline = operational_g(energy_j, series.mean_over(origin, origin + duration), pue)
    return PauseWhenDirty(extra, origin, chosen[-1][1], baseline, grams, pauses)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Everything ``jouleflow carbon --compare`` shows besides the assessment itself."""

    zones: tuple[ZoneComparison, ...]
    flexible: FlexibleStart | None
    pause: PauseWhenDirty | None
    caveat: str | None

    def to_dict(self) -> dict[str, Any]:
        flexible = self.flexible
        pause = self.pause
        return {
            "zones": [z.to_dict() for z in self.zones],
            "flexible_start": None
            if flexible is None
            else {
                "window_h": flexible.window_h,
                "actual": _option_dict(flexible.actual),
                "best": _option_dict(flexible.best),
                "worst": _option_dict(flexible.worst),
                "options": [_option_dict(o) for o in flexible.options],
            },
            "pause_when_dirty": None
            if pause is None
            else {
                "extra": pause.extra,
                "start_s": pause.start_s,
                "finish_s": pause.finish_s,
                "baseline_operational_co2e_g": pause.baseline_g,
                "operational_co2e_g": pause.operational_g,
                "pauses": pause.pauses,
                "assumes": "the run's average power whenever it runs",
            },
            "caveat": self.caveat,
        }


def _option_dict(option: StartOption | None) -> dict[str, float] | None:
    if option is None:
        return None
    return {
        "start_s": option.start_s,
        "intensity_g_per_kwh": option.g_per_kwh,
        "operational_co2e_g": option.operational_g,
    }


def what_if(
    assessment: CarbonAssessment,
    settings: CarbonSettings,
    zones: Sequence[Zone] = (),
    *,
    window_h: float = DEFAULT_WINDOW_H,
    pause_extra: float = DEFAULT_PAUSE_EXTRA,
) -> WhatIf:
    """Zone comparison, plus the time-shifting estimates when the run used a series."""
    series, profile = assessment.series, assessment.profile
    flexible = pause = None
    if series is not None and profile:
        pue, energy_j = assessment.pue.value, assessment.energy_j
        flexible = flexible_start(profile, series, pue, window_h, energy_j)
        pause = pause_when_dirty(profile, series, pue, pause_extra, energy_j)
    return WhatIf(
        zones=compare_zones(assessment.energy_j, zones, settings),
        flexible=flexible,
        pause=pause,
        caveat=CAVEAT if series is not None else None,
    )
