"""Power traces with exact, closed-form energy: the ground truth of the simulators.

Time is seconds since the trace's start. Every trace is a frozen dataclass so a simulator can be
described in JSON and run in another process (see ``powercap.PowercapSimulator``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol


class PowerTrace(Protocol):
    def power_w(self, t_s: float) -> float: ...

    def energy_j(self, t_s: float) -> float:
        """Energy from 0 to ``t_s`` (exact)."""
        ...


@dataclass(frozen=True)
class ConstantPower:
    watts: float

    def power_w(self, t_s: float) -> float:
        return self.watts

    def energy_j(self, t_s: float) -> float:
        return self.watts * max(t_s, 0.0)


@dataclass(frozen=True)
class SquareWave:
    """``high_w`` for the first ``duty`` of each period, ``low_w`` for the rest."""

    low_w: float
    high_w: float
    period_s: float
    duty: float = 0.5

    def power_w(self, t_s: float) -> float:
        return self.high_w if (t_s % self.period_s) < self.duty * self.period_s else self.low_w

    def energy_j(self, t_s: float) -> float:
        if t_s <= 0:
            return 0.0
        whole = math.floor(t_s / self.period_s)
        per_period = self.period_s * (self.duty * self.high_w + (1 - self.duty) * self.low_w)
        rest = t_s - whole * self.period_s
        high_time = min(rest, self.duty * self.period_s)
        return whole * per_period + high_time * self.high_w + (rest - high_time) * self.low_w


_TYPES: dict[str, type[Any]] = {"constant": ConstantPower, "square": SquareWave}


def trace_to_json(trace: PowerTrace) -> dict[str, Any]:
    kind = next(k for k, v in _TYPES.items() if isinstance(trace, v))
    return {"type": kind, **asdict(trace)}  # type: ignore[call-overload]


def trace_from_json(data: dict[str, Any]) -> PowerTrace:
    fields = dict(data)
    kind = fields.pop("type")
    trace: PowerTrace = _TYPES[kind](**fields)
    return trace
