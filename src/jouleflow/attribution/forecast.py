"""Forecast a run's total energy, duration and carbon from its completed units (epochs or steps).

Model: after ``warmup_units`` (recorded, never modelled), the per-unit energies x_1..x_n are treated
as independent draws from one distribution (no trend). The remaining R units are predicted as
R × mean. Their sum differs from that by the error of the mean times R plus the R units' own
variation, so Var = s²·R²/n + s²·R, and (S_R − R·x̄) / (s·√(R + R²/n)) follows Student's t with n−1
degrees of freedom when the units are normal: the interval is exact for normal units and a good
approximation otherwise. With one post-warm-up unit there is no spread, so the interval is ±50 % of
the remaining prediction (said in ``method``). Remaining energy is never below zero.

Pure and dependency-free (stdlib only): t quantiles come from the closed-form t distribution
(Abramowitz & Stegun 26.7.3-4, inverted by bisection) up to 100 dof, and the Cornish-Fisher
expansion (A&S 26.7.5, within 1e-9 of the closed form there) beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from jouleflow.errors import JouleflowError
from jouleflow.units import J_PER_KWH

SINGLE_UNIT_HALF_WIDTH = 0.5  # relative half-width of the remaining prediction when n == 1
_EXACT_DOF_MAX = 100


def _t_central(theta: float, dof: int) -> float:
    """P(|T| ≤ √dof·tan θ) for Student's t with integer dof (A&S 26.7.3 / 26.7.4)."""
    s, c = math.sin(theta), math.cos(theta)
    odd, total, c2 = dof % 2, 0.0, c * c
    term = c if odd else 1.0
    for k in range(odd, dof - 1, 2):
        total += term
        term *= c2 * (k + 1) / (k + 2)
    return 2.0 / math.pi * (theta + s * total) if odd else s * total


@lru_cache(maxsize=1024)
def _t_quantile(confidence: float, dof: int) -> float:
    """The t such that P(|T| ≤ t) = confidence, i.e. the two-sided critical value."""
    if dof > _EXACT_DOF_MAX:
        import statistics  # lazily: it pulls in decimal, fractions and random

        x = statistics.NormalDist().inv_cdf((1.0 + confidence) / 2.0)
        g1 = (x**3 + x) / 4
        g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
        g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
        g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
        return x + g1 / dof + g2 / dof**2 + g3 / dof**3 + g4 / dof**4
    lo, hi = 0.0, math.pi / 2
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_central(mid, dof) < confidence else (lo, mid)
    return math.sqrt(dof) * math.tan((lo + hi) / 2)


@dataclass(slots=True)
class _Running:
    """Count, mean and sum of squared deviations (Welford): O(1) per unit, any run length."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    def predict(
        self, so_far: float, remaining: int, confidence: float
    ) -> tuple[float, tuple[float, float]]:
        rest = remaining * self.mean
        if self.n == 1:
            half = SINGLE_UNIT_HALF_WIDTH * rest
        else:
            stdev = math.sqrt(max(0.0, self.m2) / (self.n - 1))
            spread = stdev * math.sqrt(remaining + remaining**2 / self.n)
            half = _t_quantile(confidence, self.n - 1) * spread
        return so_far + rest, (so_far + max(0.0, rest - half), so_far + rest + half)


@dataclass(frozen=True, slots=True)
class Forecast:
    """The whole run predicted from its first ``units_done`` units; intervals at ``confidence``."""

    units_done: int
    units_total: int
    unit: str
    confidence: float
    energy_so_far_j: float
    predicted_total_energy_j: float
    energy_interval_j: tuple[float, float]
    predicted_total_duration_s: float
    duration_interval_s: tuple[float, float]
    method: str

    @property
    def remaining_energy_j(self) -> float:
        return self.predicted_total_energy_j - self.energy_so_far_j

    def carbon(
        self, intensity_g_per_kwh: float, pue: float = 1.0
    ) -> tuple[float, tuple[float, float]]:
        """Predicted gCO2 and its interval: energy × PUE / 3,600,000 J per kWh × intensity."""
        if not intensity_g_per_kwh >= 0 or not math.isfinite(intensity_g_per_kwh):
            raise ValueError(f"intensity_g_per_kwh must be ≥ 0, got {intensity_g_per_kwh!r}")
        if not pue >= 1.0 or not math.isfinite(pue):
            raise ValueError(f"pue must be ≥ 1.0 (facility ÷ IT energy), got {pue!r}")
        g_per_j = intensity_g_per_kwh * pue / J_PER_KWH
        lo, hi = self.energy_interval_j
        return self.predicted_total_energy_j * g_per_j, (lo * g_per_j, hi * g_per_j)


class Forecaster:
    """Call ``observe`` once per completed unit; it returns a ``Forecast`` once one exists."""

    def __init__(
        self, total_units: int, warmup_units: int = 1, unit: str = "epoch", confidence: float = 0.9
    ) -> None:
        if isinstance(total_units, bool) or not isinstance(total_units, int) or total_units < 1:
            raise ValueError(f"total_units must be an integer ≥ 1, got {total_units!r}")
        if not isinstance(warmup_units, int) or not 0 <= warmup_units < total_units:
            raise ValueError(
                f"warmup_units must be ≥ 0 and < total_units ({total_units}), got {warmup_units!r}:"
                " otherwise no unit would ever be left to forecast from"
            )
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.9), got {confidence!r}")
        self.total_units, self.warmup_units = total_units, warmup_units
        self.unit, self.confidence = unit, confidence
        self._done, self._energy_j, self._duration_s = 0, _Running(), _Running()
        self._so_far_j = self._so_far_s = 0.0
        self.latest: Forecast | None = None

    def observe(self, energy_j: float, duration_s: float) -> Forecast | None:
        for name, value in (("energy_j", energy_j), ("duration_s", duration_s)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
        if self._done >= self.total_units:
            raise ValueError(
                f"observed more than total_units={self.total_units} {self.unit}s; "
                "pass the run's real length to Forecaster"
            )
        self._done += 1
        self._so_far_j += energy_j
        self._so_far_s += duration_s
        if self._done <= self.warmup_units:
            return None
        self._energy_j.add(energy_j)
        self._duration_s.add(duration_s)
        remaining, conf, done = self.total_units - self._done, self.confidence, self._done
        energy = self._energy_j.predict(self._so_far_j, remaining, conf)
        duration = self._duration_s.predict(self._so_far_s, remaining, conf)
        method = self._method(self._energy_j.n, remaining)
        self.latest = Forecast(
            done, self.total_units, self.unit, conf, self._so_far_j, *energy, *duration, method
        )
        return self.latest

    def _method(self, n: int, remaining: int) -> str:
        u, pct = self.unit, f"{self.confidence * 100:g} %"
        head = f"mean of {n} post-warm-up {u}(s) × {remaining} remaining {u}(s)"
        if self.warmup_units:
            head += f" ({self.warmup_units} warm-up {u}(s) counted as measured, not modelled)"
        if n == 1:
            return (
                f"{head}; interval ±{SINGLE_UNIT_HALF_WIDTH * 100:g} % of the remaining energy,"
                f" because a single post-warm-up {u} shows no spread"
            )
        return (
            f"{head}; {pct} interval from their spread (Student t on the mean, {n - 1} dof, plus"
            f" {u}-to-{u} variation summed over the remaining {u}s)"
        )


class BudgetExceeded(JouleflowError):
    """The forecast exceeds a ``Budget`` whose action is "stop"; integrations end training on it."""

    def __init__(self, verdict: BudgetVerdict) -> None:
        super().__init__(verdict.message, fix="raise the budget, or use Budget(action='warn')")
        self.verdict = verdict


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """``exceeded``: the point forecast is above the limit; ``certainly_exceeded``: so is the
    interval's lower bound. ``predicted`` and ``limit`` are in ``limit_unit``."""

    exceeded: bool
    certainly_exceeded: bool
    limit_unit: Literal["kWh", "gCO2"]
    predicted: float
    predicted_interval: tuple[float, float]
    limit: float
    action: Literal["warn", "stop"]
    message: str


@dataclass(frozen=True, slots=True)
class Budget:
    """Energy and/or carbon limits for a whole run, checked against each new forecast.

    Both limits apply to facility energy, i.e. the forecast × ``pue`` (1.0: IT energy only).
    """

    max_kwh: float | None = None
    max_gco2: float | None = None
    intensity_g_per_kwh: float | None = None
    pue: float = 1.0
    action: Literal["warn", "stop"] = "warn"

    def __post_init__(self) -> None:
        if self.max_kwh is None and self.max_gco2 is None:
            raise ValueError("a Budget needs max_kwh and/or max_gco2")
        for name, limit in (("max_kwh", self.max_kwh), ("max_gco2", self.max_gco2)):
            if limit is not None and not (math.isfinite(limit) and limit > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {limit!r}")
        if self.max_gco2 is not None and self.intensity_g_per_kwh is None:
            raise ValueError("max_gco2 needs intensity_g_per_kwh (grid carbon intensity)")
        if not self.pue >= 1.0:
            raise ValueError(f"pue must be ≥ 1.0, got {self.pue!r}")
        if self.action not in ("warn", "stop"):
            raise ValueError(f"action must be 'warn' or 'stop', got {self.action!r}")

    def check(self, forecast: Forecast) -> BudgetVerdict:
        """The most-stretched limit (highest predicted ÷ limit) decides the verdict."""
        options: list[tuple[Literal["kWh", "gCO2"], float, tuple[float, float], float]] = []
        if self.max_kwh is not None:
            lo, hi = forecast.energy_interval_j
            kwh = self.pue / J_PER_KWH
            iv = (lo * kwh, hi * kwh)
            options.append(("kWh", forecast.predicted_total_energy_j * kwh, iv, self.max_kwh))
        if self.max_gco2 is not None and self.intensity_g_per_kwh is not None:
            g, g_iv = forecast.carbon(self.intensity_g_per_kwh, self.pue)
            options.append(("gCO2", g, g_iv, self.max_gco2))
        unit, predicted, iv, limit = max(options, key=lambda o: o[1] / o[3])
        exceeded = predicted > limit
        where = f"after {forecast.units_done} of {forecast.units_total} {forecast.unit}s"
        said = f"forecast {predicted:.4g} {unit} ({forecast.confidence * 100:g} % interval"
        said += f" {iv[0]:.4g}–{iv[1]:.4g}) {where}"
        if exceeded:
            over = predicted - limit
            then = "training will stop" if self.action == "stop" else "training continues (warn)"
            certainty = "certainly" if iv[0] > limit else "probably"
            msg = f"{said} {certainty} exceeds the {limit:.4g} {unit} budget by {over:.4g} {unit}"
            msg += f" ({over / limit * 100:.0f} %); {then}"
        else:
            msg = f"{said} is within the {limit:.4g} {unit} budget ({predicted / limit:.0%} of it)"
        return BudgetVerdict(exceeded, iv[0] > limit, unit, predicted, iv, limit, self.action, msg)

    def enforce(self, forecast: Forecast) -> BudgetVerdict:
        """``check``, then raise ``BudgetExceeded`` when exceeded and the action is "stop"."""
        verdict = self.check(forecast)
        if verdict.exceeded and self.action == "stop":
            raise BudgetExceeded(verdict)
        return verdict
