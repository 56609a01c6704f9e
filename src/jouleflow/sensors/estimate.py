"""Estimators for what no sensor measures: CPU and memory (disk and network: io_estimate.py).

Each is a ``Sensor`` whose one domain says ``Method.ESTIMATE``, states its model and parameters in
words (``Domain.model``) and carries a relative uncertainty argued in the comments below. Readings
are power in integer mW, averaged over the interval since the previous ``read()``; the sampler
holds each reading until the next one. The first ``read()`` after ``open()`` only sets the baseline
(CPU: the idle floor).

Every figure is system-wide (all processes, the whole machine), like the counters it stands in for.
Whether an estimator is used at all (only where no sensor covers its component) is decided by the
caller, ``jouleflow.sensors.discovery``, not here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from jouleflow._frozen import Frozen
from jouleflow.domains import Availability, ComponentKind, Domain, Method, ReadingKind
from jouleflow.errors import SensorError

# The CPU model's TDP table (sensors/cpu_table.py: csv, re, unicodedata) loads only for a CPU
# estimate: every run imports this module (io_estimate.py builds on its helpers).

# --- CPU -------------------------------------------------------------------------------------
# Fraction of TDP drawn at zero utilisation. SPECpower_ssj2008 results, as reduced by Cloud Carbon
# Footprint (ccf-coefficients: average min / max watts per vCPU per micro-architecture), give
# idle / full-load ratios of 0.16 (Skylake 0.64/4.05 W), 0.17 (Cascade Lake 0.64/3.80), 0.20
# (Broadwell 0.71/3.54), 0.24 (EPYC Milan 0.45/1.87), 0.29 (EPYC Rome 0.47/1.64) and 0.32 (Haswell
# 1.90/5.99, EPYC Naples 0.82/2.55): mean 0.24, so 0.25. Older servers idled near half their peak
# (Barroso & Hölzle, "The Case for Energy-Proportional Computing", IEEE Computer 2007); laptops and
# desktops idle well below the floor.
DEFAULT_IDLE_FRACTION = 0.25
# ±30 % with a known TDP: rough independent errors added in quadrature. Full-load power vs TDP
# ~20 % (servers hold sustained power near TDP, but loads without wide vector units stay below it:
# codecarbon's own load profile of a dual Xeon E5-2620 v3 reads 117 W of RAPL at 100 % load against
# 2 x 85 W of TDP); the idle floor's spread above, ~8 % of TDP; non-linearity of power in
# utilisation, ~10 %; what busy cores do at equal utilisation (vector vs scalar, memory stalls),
# ~20 %: sqrt(20² + 8² + 10² + 20²) ≈ 31 %. Desktop parts boosting past TDP (PL2 253 W on a 125 W
# Core i9-13900K) fall outside this band.
TDP_UNCERTAINTY_REL = 0.30
# Per physical core when the model is not in the table. TDP (table cpu_tdp) / cores (vendor sheets):
# EPYC 9654 360/96 = 3.8 W, EPYC 7763 280/64 = 4.4, Threadripper 3990X 280/64 = 4.4, Core
# i9-13900K 125/24 = 5.2, Xeon Platinum 8480+ 350/56 = 6.3, Ryzen 9 5950X 105/16 = 6.6, Xeon Gold
# 6248 150/20 = 7.5, Core i7-7600U 15/2 = 7.5, Xeon E5-2686 v4 145/18 = 8.1, Xeon Gold 6226R
# 150/16 = 9.4, Core i7-8700K 95/6 = 15.8. 8 W is the middle of 3.8-15.8 W on a log scale.
GENERIC_TDP_PER_CORE_W = 8.0
# ±60 % on the per-core figure (3.2-12.8 W: all the parts above but the 6-core desktop) combined
# with the model's own ±30 %: sqrt(60² + 30²) ≈ 67 %.
GENERIC_UNCERTAINTY_REL = 0.67

# --- memory ----------------------------------------------------------------------------------
# 0.375 W per GiB installed = 3 W per 8 GB, CodeCarbon 2.x's figure (docs "Methodology > RAM",
# citing Crucial's "How much power does memory use?"); Green Algorithms (Lannelongue et al., Adv.
# Sci. 2021) uses 0.3725 W/GB. ±50 %, a judgement: the spread of 8-32 GB DDR4/DDR5 modules
# between idle and busy. Power follows the number of modules more than their capacity (CodeCarbon
# 3 moved to ~5 W per DIMM), so above LARGE_MEMORY_GIB the linear figure mostly overestimates
# (1 TiB in 16 DIMMs: 384 W here, ~80 W at 5 W per DIMM): ±100 % there.
DEFAULT_W_PER_GIB = 0.375
MEMORY_UNCERTAINTY_REL = 0.50
LARGE_MEMORY_GIB = 128.0
LARGE_MEMORY_UNCERTAINTY_REL = 1.00


# --- CPU -------------------------------------------------------------------------------------
def estimate_domain(
    domain_id: str, kind: ComponentKind, source: str, label: str, uncertainty_rel: float, model: str
) -> Domain:
    return Domain(
        id=domain_id,
        kind=kind,
        source=source,
        method=Method.ESTIMATE,
        reading=ReadingKind.POWER_MW,
        label=label,
        edge_read=False,
        uncertainty_rel=uncertainty_rel,
        model=model,
    )


def unavailable(sensor: str, reason: str) -> Availability:
    return Availability(sensor, False, reason, measured=False)


class TdpChoice(Frozen):
    """Which TDP the CPU estimate uses for the whole machine, and why."""

    __slots__ = ("total_w", "origin", "description", "uncertainty_rel")  # noqa: RUF023
    total_w: float
    origin: str  # "user" | "table" | "generic"
    description: str  # e.g. "TDP 150 W (Intel Xeon Gold 6248, table cpu_tdp) × 2 sockets"
    uncertainty_rel: float

    def __init__(
        self, total_w: float, origin: str, description: str, uncertainty_rel: float
    ) -> None:
        self._init(locals())


def psutil_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds since boot, summed over all CPUs, from ``psutil.cpu_times()``.

    Guest time is already inside user/nice on Linux, so it is not added twice. Idle, iowait and
    steal (a hypervisor running someone else on our vCPU) are not this machine's work.
    """
    import psutil  # lazily: ~10 ms of import, needed only when estimating

    fields: dict[str, float] = psutil.cpu_times()._asdict()
    total = sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0) + fields.get("steal", 0.0)
    return total - idle, total


def utilisation(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """Busy share of CPU time between two (busy, total) samples; None if no time elapsed."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    return min(1.0, max(0.0, (after[0] - before[0]) / total))


def cpu_power_w(tdp_w: float, idle_fraction: float, utilisation: float) -> float:
    """TDP × (idle floor + (1 − idle floor) × utilisation)."""
    return tdp_w * (idle_fraction + (1.0 - idle_fraction) * utilisation)


class CpuEstimator:
    """CPU power from TDP and system-wide utilisation, for where RAPL is absent or unreadable.

    ``tdp_w`` (the CLI's ``--cpu-tdp``) is per socket, as vendor sheets state it, and is multiplied
    by the sockets in ``cpuinfo``. Without it the TDP comes from the shipped table by CPU model
    name, and failing that from ``GENERIC_TDP_PER_CORE_W`` × physical cores. ``cpu_seconds``
    returns cumulative (busy, total) CPU seconds; it defaults to psutil's system-wide times.
    """

    name = "cpu-estimate"

    def __init__(
        self,
        tdp_w: float | None = None,
        proc_root: str | os.PathLike[str] = "/proc",
        idle_fraction: float = DEFAULT_IDLE_FRACTION,
        cpu_seconds: Callable[[], tuple[float, float]] = psutil_cpu_seconds,
    ) -> None:
        if tdp_w is not None and not tdp_w > 0:
            raise ValueError(f"tdp_w must be positive, got {tdp_w}")
        if not 0.0 <= idle_fraction <= 1.0:
            raise ValueError(f"idle_fraction must be within [0, 1], got {idle_fraction}")
        self.tdp_w = tdp_w
        self.proc_root = proc_root
        self.idle_fraction = idle_fraction
        self._cpu_seconds = cpu_seconds
        self._choice: TdpChoice | None = None
        self._prev: tuple[float, float] | None = None
        self._last_mw = 0

    def tdp(self) -> TdpChoice:
        """The machine's TDP and where it came from (worked out once, then kept)."""
        if self._choice is None:
            self._choice = self._choose()
        return self._choice

    def _choose(self) -> TdpChoice:
        from jouleflow.sensors.cpu_table import (
            TABLE,
            lookup_tdp,
            read_core_count,
            read_cpu_model,
            read_socket_count,
        )

        sockets = read_socket_count(self.proc_root)
        per = f" × {sockets} sockets" if sockets > 1 else ""
        if self.tdp_w is not None:
            text = f"user-given TDP {self.tdp_w:g} W{per}"
            return TdpChoice(self.tdp_w * sockets, "user", text, TDP_UNCERTAINTY_REL)
        model = read_cpu_model(self.proc_root)
        found = lookup_tdp(model) if model else None
        if found is not None:
            text = f"TDP {found[0]:g} W ({found[1]}, table {TABLE}){per}"
            return TdpChoice(found[0] * sockets, "table", text, TDP_UNCERTAINTY_REL)
        cores = read_core_count(self.proc_root)
        total = GENERIC_TDP_PER_CORE_W * cores
        why = f"{model!r} not in table {TABLE}" if model else "CPU model unknown"
        text = f"generic {GENERIC_TDP_PER_CORE_W:g} W per physical core × {cores} cores = "
        return TdpChoice(total, "generic", f"{text}{total:g} W ({why})", GENERIC_UNCERTAINTY_REL)

    def model(self) -> str:
        floor = self.idle_fraction
        return (
            f"{self.tdp().description} × ({floor:g} idle floor + {1 - floor:g} × system-wide "
            "CPU utilisation)"
        )

    def probe(self) -> Availability:
        try:
            model = self.model()
            self._cpu_seconds()
        except Exception as err:  # probe never raises: a failure is a reason
            return unavailable(self.name, f"cannot estimate the CPU: {err}")
        fix = None
        if self.tdp().origin == "generic":
            fix = (
                "give the TDP per socket from the vendor's sheet with --cpu-tdp, or make RAPL "
                "readable to measure instead (see `jouleflow doctor`)"
            )
        reason = f"estimates CPU power from TDP × utilisation, no sensor involved: {model}"
        return Availability(
            self.name, True, reason, fix=fix, domains=("estimate:cpu",), measured=False
        )

    def open(self) -> tuple[Domain, ...]:
        self._prev = None
        return (
            estimate_domain(
                "estimate:cpu",
                ComponentKind.CPU_ESTIMATE,
                "tdp-model",
                "CPU (estimated)",
                self.tdp().uncertainty_rel,
                self.model(),
            ),
        )

    def read(self) -> tuple[int, ...]:
        try:
            now = self._cpu_seconds()
        except Exception as err:
            raise SensorError(f"cannot read CPU times: {err}") from err
        share = 0.0 if self._prev is None else utilisation(self._prev, now)
        if share is not None:  # None: no clock tick since the last read; hold, keep the baseline
            self._prev = now
            power_w = cpu_power_w(self.tdp().total_w, self.idle_fraction, share)
            self._last_mw = round(power_w * 1000)
        return (self._last_mw,)

    def read_edges(self) -> tuple[int | None, ...]:
        return (None,)

    def close(self) -> None:
        self._prev = None


class MemoryEstimator:
    """A constant power for the installed RAM: ``w_per_gb`` (per GiB) × installed GiB."""

    name = "memory-estimate"

    def __init__(self, w_per_gb: float = DEFAULT_W_PER_GIB) -> None:
        if not w_per_gb >= 0:
            raise ValueError(f"w_per_gb must not be negative, got {w_per_gb}")
        self.w_per_gb = w_per_gb
        self._mw = 0

    def installed_gib(self) -> float:
        import psutil  # lazily: ~10 ms of import, needed only when estimating

        return float(psutil.virtual_memory().total) / 2**30

    def model(self) -> str:
        gib = self.installed_gib()
        return (
            f"{gib:.1f} GiB installed × {self.w_per_gb:g} W per GiB (3 W per 8 GB, "
            f"CodeCarbon 2.x) = {gib * self.w_per_gb:.1f} W, constant whatever the activity"
        )

    def probe(self) -> Availability:
        try:
            model = self.model()
        except Exception as err:  # probe never raises
            return unavailable(self.name, f"cannot read installed memory: {err}")
        reason = f"estimates memory power from installed RAM, no sensor involved: {model}"
        return Availability(self.name, True, reason, domains=("estimate:memory",), measured=False)

    def open(self) -> tuple[Domain, ...]:
        try:
            gib, model = self.installed_gib(), self.model()
        except Exception as err:
            raise SensorError(f"cannot read installed memory: {err}") from err
        self._mw = round(gib * self.w_per_gb * 1000)
        large = gib > LARGE_MEMORY_GIB
        uncertainty = LARGE_MEMORY_UNCERTAINTY_REL if large else MEMORY_UNCERTAINTY_REL
        return (
            estimate_domain(
                "estimate:memory",
                ComponentKind.MEMORY_ESTIMATE,
                "w-per-gb-model",
                "memory (estimated)",
                uncertainty,
                model,
            ),
        )

    def read(self) -> tuple[int, ...]:
        return (self._mw,)

    def read_edges(self) -> tuple[int | None, ...]:
        return (None,)

    def close(self) -> None:
        pass
