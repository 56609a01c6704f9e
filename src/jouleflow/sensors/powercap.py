"""Linux powercap RAPL energy counters (Intel, and AMD Zen through the same tree).

The kernel exposes each control type (``intel-rapl``) as a folder holding the zone tree, plus
top-level symlinks ``intel-rapl:N`` and ``intel-rapl:N:M`` pointing into it. Zones are found
through both, deduplicated by their resolved path, and classified by their ``name`` file, never by
their index (``intel-rapl:1`` is psys on some laptops, a second socket on servers).

What goes into the total: packages (which contain their core and uncore sub-zones) plus DRAM
(which is outside the package). Where a ``psys`` zone exists it covers the whole SoC, packages and
DRAM included, so it replaces them in the total and they become a breakdown.
``intel-rapl-mmio`` repeats the package counter through MMIO and is skipped to avoid counting it
twice.

Phase edges read every zone but a package's core and uncore: each read is a system call (and on
real hardware an MSR read, often on another CPU), and those parts are inside their package, which
is read; the phase accounting splits them in proportion to their package between two full
readings (``attribution/journal.py``).
"""

from __future__ import annotations

import os

from jouleflow._frozen import Frozen
from jouleflow.domains import Availability, ComponentKind, Domain, Method, ReadingKind
from jouleflow.errors import SensorError, SensorPermissionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_ROOT = "/sys/class/powercap"
CONTROL_TYPE = "intel-rapl"


def _is_zone_name(name: str) -> bool:
    """``intel-rapl:0``, ``intel-rapl:0:1``...: a zone; the control folder ``intel-rapl`` is not.

    Plain string tests rather than a regular expression: this module loads at every run's start.
    """
    parts = name.split(":")
    return (
        parts[0] == CONTROL_TYPE
        and len(parts) > 1
        and all(p.isascii() and p.isdigit() for p in parts[1:])
    )


# Used only when the zone states no maximum power: high enough for any current CPU socket,
# so that the poll bound it implies is conservative (shorter than needed).
FALLBACK_MAX_POWER_W = 1000.0
# RAPL has no vendor-stated accuracy; the uncertainty jouleflow reports for it is the counter's own
# update tick at the window edges. Agreement with wall meters (a few percent on recent parts, Khan
# et al., "RAPL in Action", TOMPECS 2018) is a calibration question the docs state separately.
RAPL_RELATIVE_UNCERTAINTY = 0.0
_KINDS = {
    "core": ComponentKind.CPU_CORE,
    "uncore": ComponentKind.CPU_UNCORE,
    "dram": ComponentKind.DRAM,
    "psys": ComponentKind.PSYS,
}

# Sub-zones inside their package's counter: not read at phase edges (the module's docstring).
_PACKAGE_PARTS = (ComponentKind.CPU_CORE, ComponentKind.CPU_UNCORE)

PERMISSION_FIX = (
    "energy_uj is readable only by root since the 2020 RAPL side-channel fix (CVE-2020-8694). "
    "Run as root, or for this boot `sudo chmod o+r {root}/intel-rapl:*/energy_uj "
    "{root}/intel-rapl:*:*/energy_uj`, or for good add the udev rule "
    "/etc/udev/rules.d/99-powercap.rules containing\n"
    '    SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chgrp power /sys%p/energy_uj", '
    'RUN+="/bin/chmod g+r /sys%p/energy_uj"\n'
    "  then `sudo groupadd -f power && sudo usermod -aG power $USER` and reboot (or "
    "`sudo udevadm trigger --subsystem-match=powercap`)."
)


class _Zone(Frozen):
    __slots__ = ("path", "link_name", "zone_name")  # noqa: RUF023 (the constructor's order)
    path: str  # resolved
    link_name: str  # intel-rapl:0:1
    zone_name: str  # contents of `name`

    def __init__(self, path: str, link_name: str, zone_name: str) -> None:
        self._init(locals())


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _read_int(path: str) -> int | None:
    try:
        return int(_read_text(path))
    except (OSError, ValueError):
        return None


def discover_zones(root: str | os.PathLike[str]) -> list[_Zone]:
    """Every RAPL zone under ``root`` once, parents before children."""
    root = os.fspath(root)
    candidates: list[str] = []
    if os.path.isdir(root):
        candidates.extend(os.path.join(root, n) for n in os.listdir(root) if _is_zone_name(n))
        control = os.path.join(root, CONTROL_TYPE)
        for folder, subfolders, _ in os.walk(control):  # nothing when there is no such folder
            candidates.extend(os.path.join(folder, n) for n in subfolders if _is_zone_name(n))
    seen: dict[str, _Zone] = {}
    for candidate in candidates:
        resolved = os.path.realpath(candidate)
        name_file = os.path.join(resolved, "name")
        if resolved in seen or not os.path.isfile(name_file):
            continue
        seen[resolved] = _Zone(resolved, os.path.basename(resolved), _read_text(name_file))
    return sorted(seen.values(), key=lambda z: [int(n) for n in z.link_name.split(":")[1:]])


def _constraint_files(zone: str, suffix: str) -> list[str]:
    """``constraint_N_<suffix>`` files of a zone."""
    return [
        os.path.join(zone, n)
        for n in os.listdir(zone)
        if n.startswith("constraint_") and n.endswith(suffix)
    ]


def _max_power_w(zone: str) -> float:
    maxima = [_read_int(p) for p in _constraint_files(zone, "_max_power_uw")]
    stated = [m for m in maxima if m]
    if stated:
        return max(stated) / 1e6
    limits = [_read_int(p) for p in _constraint_files(zone, "_power_limit_uw")]
    stated = [lim for lim in limits if lim]
    if stated:
        return 2 * max(stated) / 1e6
    return FALLBACK_MAX_POWER_W


def _domains_for(zones: list[_Zone]) -> list[tuple[_Zone, Domain]]:
    by_link = {z.link_name: z for z in zones}
    has_psys = any(z.zone_name == "psys" for z in zones)
    result: list[tuple[_Zone, Domain]] = []
    for zone in zones:
        parent_link = zone.link_name.rsplit(":", 1)[0]
        parent = by_link.get(parent_link) if parent_link.count(":") >= 1 else None
        if zone.zone_name.startswith("package-"):
            kind, domain_id, in_total = ComponentKind.CPU_PACKAGE, f"rapl:{zone.zone_name}", True
            label = f"CPU {zone.zone_name}"
        elif zone.zone_name in _KINDS:
            kind = _KINDS[zone.zone_name]
            prefix = f"rapl:{parent.zone_name}:" if parent else "rapl:"
            domain_id = prefix + zone.zone_name
            in_total = kind in (ComponentKind.DRAM, ComponentKind.PSYS)
            label = f"{parent.zone_name} {zone.zone_name}" if parent else zone.zone_name
        else:
            continue  # unknown zone names are listed by `doctor` but never guessed at
        if has_psys and kind in (ComponentKind.CPU_PACKAGE, ComponentKind.DRAM):
            in_total = False  # psys already contains them
        max_range = _read_int(os.path.join(zone.path, "max_energy_range_uj"))
        domain = Domain(
            id=domain_id,
            kind=kind,
            source="powercap",
            method=Method.COUNTER,
            reading=ReadingKind.ENERGY_UJ,
            label=label,
            in_total=in_total,
            wrap_uj=max_range + 1 if max_range else None,
            max_power_w=_max_power_w(zone.path),
            edge_read=not (parent and kind in _PACKAGE_PARTS),
            uncertainty_rel=RAPL_RELATIVE_UNCERTAINTY,
            parent=f"rapl:{parent.zone_name}" if parent else None,
        )
        result.append((zone, domain))
    return result


class PowercapSensor:
    """RAPL counters read straight from sysfs."""

    name = "powercap"

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = os.fspath(root)
        self._fds: list[int] = []
        self._sizes: tuple[int, ...] = ()
        self._offsets: tuple[int, ...] = ()
        self._domains: tuple[Domain, ...] = ()
        self._edge_positions: tuple[int, ...] | None = None  # zones read at edges, if not all
        # The counters' text as read, for ``decode_raw`` later; bound to the descriptors by
        # ``open`` (one frame and the system calls: what a phase edge pays, sensors/base.py).
        self.read_raw: Callable[[], tuple[bytes, ...]] = self._not_open

    def probe(self) -> Availability:
        if not os.path.isdir(self.root):
            return Availability(
                self.name,
                False,
                f"no powercap tree at {self.root}",
                fix="RAPL needs Linux on bare metal or a VM that passes it through: try "
                "`sudo modprobe intel_rapl_msr` (Intel and AMD Zen); containers need "
                f"{self.root} mounted",
            )
        pairs = _domains_for(discover_zones(self.root))
        if not pairs:
            return Availability(
                self.name,
                False,
                f"{self.root} has no {CONTROL_TYPE} zones",
                fix="load the driver: `sudo modprobe intel_rapl_msr`; in a VM, RAPL is often "
                "not passed through",
            )
        for zone, _domain in pairs:
            energy_file = os.path.join(zone.path, "energy_uj")
            try:
                int(_read_text(energy_file))
            except PermissionError:
                return Availability(
                    self.name,
                    False,
                    f"cannot read {energy_file}: permission denied",
                    fix=PERMISSION_FIX.format(root=self.root),
                )
            except (OSError, ValueError) as err:
                return Availability(self.name, False, f"cannot read {energy_file}: {err}")
        names = tuple(d.id for _, d in pairs)
        return Availability(self.name, True, f"{len(names)} RAPL zones", domains=names)

    def open(self) -> tuple[Domain, ...]:
        self.close()
        pairs = _domains_for(discover_zones(self.root))
        for zone, _ in pairs:
            path = os.path.join(zone.path, "energy_uj")
            try:
                fd = os.open(path, os.O_RDONLY)
                self._fds.append(fd)
                int(os.pread(fd, 32, 0))
            except PermissionError as err:
                self.close()
                raise SensorPermissionError(
                    f"cannot read {path}: permission denied",
                    fix=PERMISSION_FIX.format(root=self.root),
                ) from err
            except (OSError, ValueError) as err:
                self.close()
                raise SensorError(f"cannot read RAPL counter {path}: {err}") from err
        self._domains = tuple(d for _, d in pairs)
        self._sizes = (32,) * len(self._fds)  # pread's size and offset for each descriptor
        self._offsets = (0,) * len(self._fds)
        at_edges = [i for i, d in enumerate(self._domains) if d.edge_read]
        self._edge_positions = tuple(at_edges) if len(at_edges) < len(self._domains) else None
        fds, pread = tuple(self._fds[i] for i in at_edges), os.pread
        sizes, offsets = self._sizes[: len(fds)], self._offsets[: len(fds)]
        self.read_raw = lambda: tuple(map(pread, fds, sizes, offsets))
        return self._domains

    def read(self) -> tuple[int, ...]:
        """Every zone: ``pread`` at offset 0 on a kept descriptor (sysfs regenerates the value
        each time). Phase edges read with ``read_raw`` instead (the module's docstring)."""
        fds = self._fds
        try:
            return tuple(map(int, map(os.pread, fds, self._sizes, self._offsets)))
        except (OSError, ValueError) as err:
            raise SensorError(f"RAPL counter read failed under {self.root}: {err}") from err

    def read_edges(self) -> tuple[int | None, ...]:
        """Every zone but the package parts (None), read now."""
        try:
            raw = self.read_raw()
        except OSError as err:
            raise SensorError(f"RAPL counter read failed under {self.root}: {err}") from err
        return self.decode_raw(raw)

    def _not_open(self) -> tuple[bytes, ...]:
        raise SensorError(f"RAPL counters under {self.root} are not open")

    def decode_raw(self, raw: tuple[bytes, ...]) -> tuple[int | None, ...]:
        """``read_raw``'s text as ``read_edges`` gives it: integers, None for package parts."""
        try:
            values = tuple(map(int, raw))
        except ValueError as err:
            raise SensorError(f"RAPL counter under {self.root} read {raw!r}: {err}") from err
        positions = self._edge_positions
        if positions is None:
            return values
        readings: list[int | None] = [None] * len(self._domains)
        for position, value in zip(positions, values):
            readings[position] = value
        return tuple(readings)

    def close(self) -> None:
        self.read_raw = self._not_open  # never a closed (or reused) descriptor
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
