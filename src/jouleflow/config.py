"""Where to look for sensors and how often to sample; every root injectable (STYLE.md #9).

Defaults come from the environment (``JOULEFLOW_POWERCAP_ROOT``, ``JOULEFLOW_NVML_LIBRARY``), so
that a program run under ``jouleflow run --powercap-root X`` measures the same sensors as its
parent when it calls ``track()`` itself.
"""

from __future__ import annotations

import os

from jouleflow._frozen import Frozen

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


class MeterConfig(Frozen):
    """Sensor roots and sampling settings; the roots default to the environment's choice."""

    __slots__ = (  # noqa: RUF023 (the constructor's order)
        "powercap_root",
        "nvml_library",
        "proc_root",
        "cpu_tdp_w",
        "interval_s",
        "gpus",
        "estimates",
    )
    powercap_root: str
    nvml_library: str | None
    proc_root: str
    cpu_tdp_w: float | None  # per socket; overrides the TDP table for the CPU estimate
    interval_s: float | None  # None: 20 ms with power-only sensors, else 1 s
    gpus: bool
    estimates: bool

    def __init__(
        self,
        powercap_root: str | None = None,
        nvml_library: str | None = None,
        proc_root: str = "/proc",
        cpu_tdp_w: float | None = None,
        interval_s: float | None = None,
        gpus: bool = True,
        estimates: bool = True,
    ) -> None:
        if powercap_root is None:
            powercap_root = _env("JOULEFLOW_POWERCAP_ROOT", DEFAULT_POWERCAP_ROOT) or ""
        if nvml_library is None:
            nvml_library = _env("JOULEFLOW_NVML_LIBRARY")
        self._init(locals())

    def to_env(self) -> dict[str, str]:
        """The environment a child needs to measure the same sensors."""
        env = {"JOULEFLOW_POWERCAP_ROOT": self.powercap_root}
        if self.nvml_library:
            env["JOULEFLOW_NVML_LIBRARY"] = self.nvml_library
        return env
