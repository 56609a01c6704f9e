"""Which sensors measure this machine, and which estimators fill the gaps.

Measured sensors are probed and opened first; an estimator is added only for a component that
no sensor covers (no RAPL package or psys: estimate the CPU; no RAPL DRAM or psys: estimate
memory). Disk and network have no sensor anywhere, so they are always estimated. Every decision
is recorded as an ``Availability`` so that results and ``jouleflow doctor`` can say why.
"""

from __future__ import annotations

from jouleflow.domains import Availability, ComponentKind, Domain
from jouleflow.errors import SensorError
from jouleflow.sensors.amdsmi import AmdSmiSensor
from jouleflow.sensors.estimate import CpuEstimator, MemoryEstimator
from jouleflow.sensors.io_estimate import DiskEstimator, NetworkEstimator
from jouleflow.sensors.nvml import NvmlSensor
from jouleflow.sensors.powercap import PowercapSensor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from jouleflow.config import MeterConfig
    from jouleflow.sensors.base import Sensor

_CPU_MEASURED = {ComponentKind.CPU_PACKAGE, ComponentKind.PSYS}
_MEMORY_MEASURED = {ComponentKind.DRAM, ComponentKind.PSYS}


class Discovery:
    """The sensors opened (with their domains) and every decision, with its reason."""

    __slots__ = ("availability", "opened")

    def __init__(
        self,
        opened: tuple[tuple[Sensor, tuple[Domain, ...]], ...],
        availability: tuple[Availability, ...],
    ) -> None:
        self.opened = opened
        self.availability = availability

    @property
    def measured(self) -> bool:
        return any(a.available and a.measured for a in self.availability)

    def close(self) -> None:
        for sensor, _ in self.opened:
            sensor.close()


def measured_sensors(config: MeterConfig) -> list[Sensor]:
    sensors: list[Sensor] = [PowercapSensor(config.powercap_root)]
    if config.gpus:
        sensors += [NvmlSensor(library_path=config.nvml_library), AmdSmiSensor()]
    return sensors


def estimators(config: MeterConfig) -> list[Sensor]:
    return [
        CpuEstimator(tdp_w=config.cpu_tdp_w, proc_root=config.proc_root),
        MemoryEstimator(),
        DiskEstimator(),
        NetworkEstimator(),
    ]


def _coverage_note(estimator: Sensor, kinds: set[ComponentKind]) -> str | None:
    """Why an estimator is not needed, or None if it is."""
    if isinstance(estimator, CpuEstimator) and kinds & _CPU_MEASURED:
        return "not used: RAPL measures the CPU"
    if isinstance(estimator, MemoryEstimator) and kinds & _MEMORY_MEASURED:
        return "not used: RAPL measures DRAM"
    return None


def open_sensors(config: MeterConfig) -> Discovery:
    """Probe everything, open what works, and add estimators where nothing measures."""
    availability: list[Availability] = []
    opened: list[tuple[Sensor, tuple[Domain, ...]]] = []
    for sensor in measured_sensors(config):
        found = sensor.probe()
        if found.available:
            try:
                opened.append((sensor, sensor.open()))
            except SensorError as err:
                found = found.replace(available=False, reason=str(err).split("\n")[0], fix=err.fix)
        availability.append(found)
    kinds = {d.kind for _, domains in opened for d in domains}
    if config.estimates:
        for estimator in estimators(config):
            note = _coverage_note(estimator, kinds)
            if note is not None:  # not even probed: its model (a 4,900-row table) costs time
                availability.append(Availability(estimator.name, True, note, measured=False))
                continue
            found = estimator.probe()
            if found.available:
                opened.append((estimator, estimator.open()))
            availability.append(found)
    return Discovery(tuple(opened), tuple(availability))


def probe_all(config: MeterConfig) -> tuple[Availability, ...]:
    """What ``jouleflow doctor`` shows: the same decisions, with every sensor closed again."""
    discovery = open_sensors(config)
    discovery.close()
    return discovery.availability
