"""Carbon intensity that changes with time, integrated against when the energy was used.

A series is a step function: each value holds from its timestamp until the next one (the last
one for the series' typical step), as in an hourly export from a grid operator or Electricity
Maps, where a row stamped 13:00 covers 13:00-14:00. Energy is given as intervals with the
energy used in each (uniform power assumed inside an interval), so a run that drew most of its
power in a clean hour gets that hour's intensity, not the day's average.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import statistics
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jouleflow.errors import ConfigError

SERIES_FIX = (
    "give a CSV with a header row and one row per step: a timestamp column (ISO 8601 such as "
    "2024-05-01T13:00:00Z, or unix seconds) and an intensity column in gCO2e/kWh, e.g. "
    "`timestamp,gco2e_per_kwh`"
)
_TIME_NAMES = ("timestamp", "datetime", "date", "time", "start")
_VALUE_WORDS = ("gco2", "intensity", "carbon", "co2")


@dataclass(frozen=True, slots=True)
class EnergyInterval:
    """Energy used between two wall-clock instants (unix seconds), at uniform power within."""

    start_s: float
    end_s: float
    energy_j: float


@dataclass(frozen=True, slots=True)
class IntensitySeries:
    """A step function of carbon intensity (gCO2e/kWh) over wall-clock time (unix seconds)."""

    start_s: tuple[float, ...]
    g_per_kwh: tuple[float, ...]
    end_s: float
    source: str
    notes: tuple[str, ...] = ()
    _cum: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.start_s) != len(self.g_per_kwh) or not self.start_s:
            raise ValueError("a series needs as many values as timestamps, at least one")
        if any(b <= a for a, b in zip(self.start_s, self.start_s[1:])):
            raise ValueError("series timestamps must strictly increase")
        if self.end_s <= self.start_s[-1]:
            raise ValueError("series must end after its last timestamp")
        cum = [0.0]
        bounds = (*self.start_s[1:], self.end_s)
        for k, value in enumerate(self.g_per_kwh):
            cum.append(cum[-1] + value * (bounds[k] - self.start_s[k]))
        object.__setattr__(self, "_cum", tuple(cum))

    @property
    def begin_s(self) -> float:
        return self.start_s[0]

    @property
    def step_s(self) -> float:
        """The typical step: the median spacing of the timestamps."""
        gaps = [b - a for a, b in zip(self.start_s, (*self.start_s[1:], self.end_s))]
        return float(statistics.median(gaps))

    def value_at(self, t_s: float) -> float:
        """The intensity in force at ``t_s``; the edge values extend beyond the series."""
        k = bisect_right(self.start_s, t_s) - 1
        return self.g_per_kwh[min(max(k, 0), len(self.g_per_kwh) - 1)]

    def _antiderivative(self, t_s: float) -> float:
        """∫ intensity dt from the series' start to ``t_s`` (g/kWh x s), edges extended."""
        if t_s <= self.start_s[0]:
            return (t_s - self.start_s[0]) * self.g_per_kwh[0]
        if t_s >= self.end_s:
            return self._cum[-1] + (t_s - self.end_s) * self.g_per_kwh[-1]
        k = bisect_right(self.start_s, t_s) - 1
        return self._cum[k] + (t_s - self.start_s[k]) * self.g_per_kwh[k]

    def mean_over(self, a_s: float, b_s: float) -> float:
        """Time-weighted mean intensity over [a, b] (the value at a when a == b)."""
        if b_s <= a_s:
            return self.value_at(a_s)
        return (self._antiderivative(b_s) - self._antiderivative(a_s)) / (b_s - a_s)

    def covered_s(self, a_s: float, b_s: float) -> float:
        """How many seconds of [a, b] the series covers."""
        return max(0.0, min(b_s, self.end_s) - max(a_s, self.begin_s))

    def segments(self, a_s: float, b_s: float) -> list[tuple[float, float, float]]:
        """(start, end, intensity) pieces of constant intensity that tile [a, b] (edges
        extended)."""
        cuts = sorted({a_s, b_s, *(t for t in (*self.start_s, self.end_s) if a_s < t < b_s)})
        return [(x, y, self.value_at(x)) for x, y in itertools.pairwise(cuts) if y > x]


@dataclass(frozen=True, slots=True)
class Integration:
    """The energy-weighted intensity of a profile under a series, and how much it covered."""

    g_per_kwh: float  # energy-weighted mean intensity (time-weighted if no energy at all)
    energy_j: float
    uncovered_j: float  # energy that fell outside the series (edge values were used for it)


def integrate(
    series: IntensitySeries, profile: Sequence[EnergyInterval], shift_s: float = 0.0
) -> Integration:
    """Weigh the series by when the energy was used: Σ E_i x mean intensity over interval i,
    divided by Σ E_i. ``shift_s`` moves the whole profile in time (for what-ifs)."""
    total_j = 0.0
    weighted = 0.0
    uncovered = 0.0
    for piece in profile:
        a, b = piece.start_s + shift_s, piece.end_s + shift_s
        weighted += piece.energy_j * series.mean_over(a, b)
        total_j += piece.energy_j
        if b > a:
            uncovered += piece.energy_j * (1.0 - series.covered_s(a, b) / (b - a))
        elif not series.begin_s <= a < series.end_s:
            uncovered += piece.energy_j
    if total_j > 0:
        return Integration(weighted / total_j, total_j, uncovered)
    a = min(p.start_s for p in profile) + shift_s
    b = max(p.end_s for p in profile) + shift_s
    return Integration(series.mean_over(a, b), 0.0, 0.0)


def to_unix_s(t: datetime | float | int) -> float:
    """Unix seconds from a timezone-aware datetime or a number of unix seconds."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ConfigError(
                f"timestamp {t.isoformat()} has no time zone",
                fix="give timezone-aware datetimes (e.g. datetime.now(timezone.utc))",
            )
        return t.timestamp()
    return float(t)


def profile_from_increments(
    increments: Sequence[tuple[datetime | float, float]], start: datetime | float
) -> tuple[EnergyInterval, ...]:
    """Intervals from (end of interval, energy in it) pairs; the first interval starts at
    ``start``. This is the shape of a sampled timeline's differences."""
    previous = to_unix_s(start)
    out = []
    for t, energy_j in increments:
        end = to_unix_s(t)
        if end < previous:
            raise ConfigError(
                "energy timeline out of order: each entry must end after the one before",
                fix="pass (end time, energy J) increments in time order",
            )
        if not math.isfinite(energy_j) or energy_j < 0:
            raise ConfigError(f"energy timeline has a bad energy {energy_j!r} J")
        out.append(EnergyInterval(previous, end, float(energy_j)))
        previous = end
    return tuple(out)


def parse_timestamp(text: str) -> tuple[float, bool]:
    """(unix seconds, whether a time zone was given) from ISO 8601 or unix seconds."""
    raw = text.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(raw)
        return value, True
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    parsed = datetime.fromisoformat(raw)  # raises ValueError
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc).timestamp(), False
    return parsed.timestamp(), True


def _pick_columns(header: list[str], where: str) -> tuple[int, int]:
    names = [h.strip().lower().replace("₂", "2") for h in header]
    time_col = next(
        (i for i, n in enumerate(names) if any(n.startswith(w) for w in _TIME_NAMES)), None
    )
    if time_col is None:
        raise ConfigError(
            f"{where}: no timestamp column in the header (found: {', '.join(header)})",
            fix=SERIES_FIX,
        )
    values = [i for i, n in enumerate(names) if i != time_col and any(w in n for w in _VALUE_WORDS)]
    if len(values) > 1:  # an Electricity Maps export has both (direct) and (LCA): take LCA
        lifecycle = [i for i in values if "lca" in names[i] or "lifecycle" in names[i]]
        values = lifecycle if len(lifecycle) == 1 else values
    if not values and len(header) == 2:
        values = [1 - time_col]
    if len(values) != 1:
        found = ", ".join(header)
        what = "several intensity columns" if values else "no intensity column"
        raise ConfigError(f"{where}: {what} in the header (found: {found})", fix=SERIES_FIX)
    if any(u in names[values[0]] for u in ("lb", "/mwh")) and "kg" not in names[values[0]]:
        raise ConfigError(
            f"{where}: column {header[values[0]]!r} is not in gCO2e/kWh", fix=SERIES_FIX
        )
    return time_col, values[0]


def parse_series(text: str, source: str) -> IntensitySeries:
    """Read a (timestamp, gCO2e/kWh) CSV; errors name ``source`` and the line number."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    cols = (0, 1)
    times: list[float] = []
    values: list[float] = []
    lines: list[int] = []
    naive = False
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = row
            cols = _pick_columns(header, f"{source}:{line}")
            continue
        where = f"{source}:{line}"
        if max(cols) >= len(row):
            raise ConfigError(
                f"{where}: the row has {len(row)} columns, the header has more", fix=SERIES_FIX
            )
        stamp, cell = row[cols[0]].strip(), row[cols[1]].strip()
        try:
            t_s, zoned = parse_timestamp(stamp)
        except ValueError:
            raise ConfigError(f"{where}: bad timestamp {stamp!r}", fix=SERIES_FIX) from None
        naive = naive or not zoned
        try:
            value = float(cell)
        except ValueError:
            what = "missing intensity" if not cell else f"intensity {cell!r} is not a number"
            raise ConfigError(f"{where}: {what}", fix=SERIES_FIX) from None
        if not math.isfinite(value):
            raise ConfigError(f"{where}: intensity {cell!r} is not a finite number")
        if value < 0:
            raise ConfigError(
                f"{where}: negative intensity {cell}", fix="carbon intensity is never below 0"
            )
        if times and t_s <= times[-1]:
            raise ConfigError(
                f"{where}: timestamp {stamp!r} is not after the previous row's (line {lines[-1]})",
                fix="sort the rows by time and remove duplicates",
            )
        times.append(t_s)
        values.append(value)
        lines.append(line)
    if header is None:
        raise ConfigError(f"{source}: the file is empty", fix=SERIES_FIX)
    if len(times) < 2:
        raise ConfigError(
            f"{source}: a time series needs at least two rows, found {len(times)}",
            fix="for one value for the whole run, give it as a number: --intensity 56",
        )
    gaps = [b - a for a, b in itertools.pairwise(times)]
    notes = ("timestamps without a time zone were read as UTC",) if naive else ()
    return IntensitySeries(
        start_s=tuple(times),
        g_per_kwh=tuple(values),
        end_s=times[-1] + float(statistics.median(gaps)),
        source=source,
        notes=notes,
    )


def load_series(path: Path | str) -> IntensitySeries:
    """Read an intensity time series CSV file (see ``parse_series``)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise ConfigError(f"cannot read {p}: {err.strerror}", fix=SERIES_FIX) from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not UTF-8 text ({err.reason})", fix=SERIES_FIX) from err
    return parse_series(text, str(p))
