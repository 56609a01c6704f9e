"""Estimators for disk and network power: bytes moved × an energy per byte.

Each is a ``Sensor`` whose one domain says ``Method.ESTIMATE``, with its model in words and a
relative uncertainty argued below. Every run opens them (no sensor anywhere measures these), so
the devices come from sysfs without psutil, and psutil's byte counters are read on the sampler's
thread: first the baseline (``prime``), then every few seconds. The figures are system-wide.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping

from jouleflow.domains import Availability, ComponentKind, Domain
from jouleflow.errors import SensorError
from jouleflow.sensors.estimate import estimate_domain, unavailable

# Energy per byte read or written: device active power over its throughput, from typical
# datasheets: NVMe SSDs 5-8 W at 2-7 GB/s (~1-3 nJ/B), SATA SSDs 2-4 W at ~0.5 GB/s (~4-8 nJ/B).
# 10 nJ/B sits at the top of the SSD range, since small random I/O costs more per byte than
# sequential transfers. Hard disks (5-8 W at 0.15-0.25 GB/s, ~30-50 nJ/B) are underestimated.
# The device's idle power is not counted: the model is the energy the traffic adds.
DISK_J_PER_BYTE = 10e-9
# NIC power over line rate: a 1 GbE port ~0.5-1 W at 125 MB/s (4-8 nJ/B), a 10 GbE port ~3-6 W
# at 1.25 GB/s (2-5 nJ/B), a 100 GbE NIC ~15-25 W at 12.5 GB/s (1-2 nJ/B); 5 nJ/B. Only this
# host's NIC: switches, routers and the wider Internet (~0.06 kWh/GB in 2015, Aslan et al.,
# J. Ind. Ecol. 2018) are out of scope.
NETWORK_J_PER_BYTE = 5e-9
# Both per-byte figures are order-of-magnitude: ±100 %.
IO_UNCERTAINTY_REL = 1.00
# Devices that would count the same bytes twice (stacked on a physical one) or are not hardware.
VIRTUAL_DISK_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "nbd")
# Bridges, veths, tunnels and bonds: their traffic also crosses another NIC.
VIRTUAL_NIC_PREFIXES: tuple[str, ...] = (
    "veth",
    "docker",
    "br",
    "virbr",
    "vnet",
    "cni",
    "flannel",
    "cali",
)
VIRTUAL_NIC_PREFIXES += ("ifb", "tun", "tap", "wg", "utun", "bond")


def _is_loopback(name: str) -> bool:
    """``lo``, ``lo0``, ``lo1``...: traffic that never leaves the host."""
    rest = name[2:]
    return name.startswith("lo") and (not rest or (rest.isascii() and rest.isdigit()))


Counters = Callable[[], "Mapping[str, int] | None"]


def psutil_disk_bytes() -> dict[str, int] | None:
    """Cumulative bytes read + written per block device (partitions included), or None."""
    import psutil  # lazily: ~10 ms of import, needed only when estimating

    found = psutil.disk_io_counters(perdisk=True)
    return {n: int(c.read_bytes + c.write_bytes) for n, c in found.items()} if found else None


def psutil_nic_bytes() -> dict[str, int] | None:
    """Cumulative bytes sent + received per network interface, or None."""
    import psutil  # lazily: ~10 ms of import, needed only when estimating

    found = psutil.net_io_counters(pernic=True)
    return {n: int(c.bytes_sent + c.bytes_recv) for n, c in found.items()} if found else None


def bytes_power_mw(moved_bytes: int, j_per_byte: float, dt_ns: int) -> int:
    """Average power in mW of moving ``moved_bytes`` over ``dt_ns``."""
    return round(moved_bytes * j_per_byte / dt_ns * 1e12) if dt_ns > 0 else 0


def _with_device(names: Iterable[str], class_dir: str) -> list[str]:
    """Names whose sysfs entry links to a device (hardware, virtio included); [] without sysfs."""
    if not os.path.isdir(class_dir):
        return []
    return sorted(
        n for n in names if os.path.exists(os.path.join(class_dir, n.replace("/", "!"), "device"))
    )


def _listed_with_device(class_dir: str) -> list[str]:
    """Entries of a sysfs class folder that link to a device; [] when there is no such folder."""
    try:
        names = os.listdir(class_dir)
    except OSError:
        return []
    return sorted(n for n in names if os.path.exists(os.path.join(class_dir, n, "device")))


class _BytesEstimator:
    """Bytes moved since the previous read on the chosen devices × a fixed energy per byte."""

    # Each reading is the mean power since the previous one (the meter books the last one over
    # its own window when the run stops), so reading every few seconds loses no bytes; psutil's
    # per-device counters cost ~0.1 ms a read, most of the sampler's CPU time at 1 s.
    reports_mean_power = True
    read_every_s = 5.0
    name = ""
    _id = ""
    _kind = ComponentKind.DISK_ESTIMATE
    _label = ""
    _what = ""

    def __init__(
        self,
        j_per_byte: float,
        sys_root: str | os.PathLike[str],
        counters: Counters,
        clock: Callable[[], int],
    ) -> None:
        self.j_per_byte = j_per_byte
        self.sys_root = os.fspath(sys_root)
        self._counters = counters
        self._clock = clock
        self.devices: list[str] = []
        self._prev: tuple[int, dict[str, int]] | None = None

    def _pick(self, names: list[str]) -> list[str]:
        raise NotImplementedError

    def _sysfs_devices(self) -> list[str]:
        """The hardware devices sysfs lists, named as psutil names them; [] without sysfs."""
        raise NotImplementedError

    def _devices(self) -> list[str]:
        # From sysfs alone where it lists the hardware: importing psutil and reading every
        # counter costs tens of ms, which a run's start should not wait for (see ``prime``).
        return self._sysfs_devices() or self._pick(list(self._read()))

    def model(self) -> str:
        raise NotImplementedError

    def _read(self) -> Mapping[str, int]:
        try:
            return self._counters() or {}
        except Exception as err:
            raise SensorError(f"cannot read {self._what} counters: {err}") from err

    def probe(self) -> Availability:
        try:
            self.devices = self._devices()
        except Exception as err:  # probe never raises
            return unavailable(self.name, str(err))
        if not self.devices:
            return unavailable(
                self.name,
                f"no {self._what} counters to estimate from (psutil "
                "reports none, or only virtual devices)",
            )
        reason = (
            f"estimates {self._what} power from bytes moved, no sensor involved: {self.model()}"
        )
        return Availability(self.name, True, reason, domains=(self._id,), measured=False)

    def open(self) -> tuple[Domain, ...]:
        self.devices = self._devices()
        self._prev = None
        return (
            estimate_domain(
                self._id,
                self._kind,
                "j-per-byte-model",
                self._label,
                IO_UNCERTAINTY_REL,
                self.model(),
            ),
        )

    def read(self) -> tuple[int, ...]:
        counts = self._read()
        now = (self._clock(), {d: counts[d] for d in self.devices if d in counts})
        prev, self._prev = self._prev, now
        if prev is None:
            return (0,)
        # Per device, so that a device appearing, vanishing or resetting never counts as traffic.
        moved = sum(max(0, b - prev[1][d]) for d, b in now[1].items() if d in prev[1])
        return (bytes_power_mw(moved, self.j_per_byte, now[0] - prev[0]),)

    def prime(self) -> None:
        """Take the baseline now, unless a read already did.

        The first reading is 0 mW by definition, so the meter records it without calling
        ``read`` and the sampler's thread primes the baseline a moment later, off the start's
        path. Bytes moved in between (milliseconds) are not counted.
        """
        if self._prev is None:
            self.read()

    def read_edges(self) -> tuple[int | None, ...]:
        return (None,)

    def close(self) -> None:
        self._prev = None


class DiskEstimator(_BytesEstimator):
    """Disk power from bytes read and written on hardware disks × ``j_per_byte``."""

    name = "disk-estimate"
    _id = "estimate:disk"
    _kind = ComponentKind.DISK_ESTIMATE
    _label = "disk I/O (estimated)"
    _what = "disk"

    def __init__(
        self,
        j_per_byte: float = DISK_J_PER_BYTE,
        sys_root: str | os.PathLike[str] = "/sys",
        counters: Counters = psutil_disk_bytes,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(j_per_byte, sys_root, counters, clock)

    def _pick(self, names: list[str]) -> list[str]:
        # Whole hardware disks only (sysfs block/<name>/device): partitions, device-mapper, md and
        # loop devices would count the same bytes again. Without sysfs (not Linux) psutil names
        # whole disks.
        return _with_device(names, os.path.join(self.sys_root, "block")) or sorted(
            n for n in names if not n.startswith(VIRTUAL_DISK_PREFIXES)
        )

    def _sysfs_devices(self) -> list[str]:
        return [
            n.replace("!", "/") for n in _listed_with_device(os.path.join(self.sys_root, "block"))
        ]

    def model(self) -> str:
        return (
            f"{self.j_per_byte * 1e9:g} nJ per byte read or written (typical SSD) × bytes "
            f"moved on {', '.join(self.devices)}, system-wide; idle power not counted"
        )


class NetworkEstimator(_BytesEstimator):
    """NIC power from bytes sent and received on non-loopback NICs × ``j_per_byte``."""

    name = "network-estimate"
    _id = "estimate:network"
    _kind = ComponentKind.NETWORK_ESTIMATE
    _label = "network I/O (estimated)"
    _what = "network"

    def __init__(
        self,
        j_per_byte: float = NETWORK_J_PER_BYTE,
        sys_root: str | os.PathLike[str] = "/sys",
        counters: Counters = psutil_nic_bytes,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(j_per_byte, sys_root, counters, clock)

    def _pick(self, names: list[str]) -> list[str]:
        # NICs backed by hardware (virtio included) where sysfs shows them. Inside a container
        # only virtual ones exist: then every NIC but loopback, bridges, veths, tunnels and bonds,
        # which repeat traffic that also crosses another NIC.
        names = [n for n in names if not _is_loopback(n)]
        return _with_device(names, os.path.join(self.sys_root, "class", "net")) or sorted(
            n for n in names if not n.startswith(VIRTUAL_NIC_PREFIXES)
        )

    def _sysfs_devices(self) -> list[str]:
        listed = _listed_with_device(os.path.join(self.sys_root, "class", "net"))
        return [n for n in listed if not _is_loopback(n)]

    def model(self) -> str:
        return (
            f"{self.j_per_byte * 1e9:g} nJ per byte sent or received × bytes on "
            f"{', '.join(self.devices)}, system-wide; this host's NIC only, not the network "
            "beyond it"
        )
