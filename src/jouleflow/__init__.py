"""jouleflow: where does the energy go?

Measure the energy of code and commands from real sensors (RAPL, NVML, amdsmi), estimate where
none exists (and say so), and attribute it to components and phases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jouleflow.config import MeterConfig
from jouleflow.errors import (
    ConfigError,
    JouleflowError,
    RunStateError,
    SensorError,
    SensorPermissionError,
)
from jouleflow.records import (
    Availability,
    ComponentEnergy,
    ComponentKind,
    Method,
    PhaseEnergy,
    RunResult,
)

if TYPE_CHECKING:
    from jouleflow.tracker import Run, track

__version__ = "0.1.0"

__all__ = [
    "Availability",
    "ComponentEnergy",
    "ComponentKind",
    "ConfigError",
    "JouleflowError",
    "MeterConfig",
    "Method",
    "PhaseEnergy",
    "Run",
    "RunResult",
    "RunStateError",
    "SensorError",
    "SensorPermissionError",
    "__version__",
    "track",
]


def __getattr__(name: str) -> object:
    """``track`` and ``Run`` load the sensor modules; import them on first use only."""
    if name in ("Run", "track"):
        from jouleflow import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module 'jouleflow' has no attribute {name!r}")
