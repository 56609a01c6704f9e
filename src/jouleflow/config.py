"""Where to look for sensors and how often to sample; every root injectable (STYLE.md #9)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class MeterConfig:
    powercap_root: str = "/sys/class/powercap"
    nvml_library: str | None = None  # None: the system's libnvidia-ml.so.1
    proc_root: str = "/proc"
    cpu_tdp_w: float | None = None  # overrides the TDP table for the CPU estimate
    interval_s: float = DEFAULT_INTERVAL_S
    gpus: bool = True
    estimates: bool = True
