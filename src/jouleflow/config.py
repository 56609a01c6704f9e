"""Where to look for sensors and how often to sample; every root injectable (STYLE.md #9).

Defaults come from the environment (``JOULEFLOW_POWERCAP_ROOT``, ``JOULEFLOW_NVML_LIBRARY``), so
that a program run under ``jouleflow run --powercap-root X`` measures the same sensors as its
parent when it calls ``track()`` itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


@dataclass(frozen=True, slots=True)
class MeterConfig:
    powercap_root: str = field(
        default_factory=lambda: _env("JOULEFLOW_POWERCAP_ROOT", DEFAULT_POWERCAP_ROOT) or ""
    )
    nvml_library: str | None = field(default_factory=lambda: _env("JOULEFLOW_NVML_LIBRARY"))
    proc_root: str = "/proc"
    cpu_tdp_w: float | None = None  # per socket; overrides the TDP table for the CPU estimate
    interval_s: float | None = None  # None: 20 ms with power-only sensors, else 1 s
    gpus: bool = True
    estimates: bool = True

    def to_env(self) -> dict[str, str]:
        """The environment a child needs to measure the same sensors."""
        env = {"JOULEFLOW_POWERCAP_ROOT": self.powercap_root}
        if self.nvml_library:
            env["JOULEFLOW_NVML_LIBRARY"] = self.nvml_library
        return env
