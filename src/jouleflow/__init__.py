"""jouleflow: where does the energy go?

Measure the energy of code and commands from real sensors (RAPL, NVML, amdsmi), estimate it where
none exists (and say so), and attribute it to components, phases and layers.

Every name here is loaded on first use (PEP 562), so ``import jouleflow`` costs about a
millisecond: the measuring modules load when a run starts.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing import`: typing alone costs more than the rest
if TYPE_CHECKING:
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
    from jouleflow.tracker import Run, track

__version__ = "0.1.0"

_HOMES = {
    "Availability": "records",
    "ComponentEnergy": "records",
    "ComponentKind": "records",
    "ConfigError": "errors",
    "JouleflowError": "errors",
    "MeterConfig": "config",
    "Method": "records",
    "PhaseEnergy": "records",
    "Run": "tracker",
    "RunResult": "records",
    "RunStateError": "errors",
    "SensorError": "errors",
    "SensorPermissionError": "errors",
    "track": "tracker",
}

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
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'jouleflow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"jouleflow.{home}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
