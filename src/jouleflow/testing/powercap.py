"""A fake Linux powercap tree, laid out like the kernel's, with counters driven by known traces.

The tree is real files and symlinks in a folder of your choice::

    BASE/devices/virtual/powercap/intel-rapl/intel-rapl:0/{name,energy_uj,max_energy_range_uj,...}
    BASE/class/powercap/intel-rapl      -> ../../devices/virtual/powercap/intel-rapl
    BASE/class/powercap/intel-rapl:0    -> ../../devices/virtual/powercap/intel-rapl/intel-rapl:0
    BASE/class/powercap/intel-rapl:0:0  -> .../intel-rapl:0/intel-rapl:0:0

Pass ``BASE/class/powercap`` as the powercap root. ``PowercapSimulator`` rewrites each
``energy_uj`` every tick (1 ms, like the hardware) from a ``PowerTrace``, so the energy of any
window is known exactly; counters wrap at ``max_energy_range_uj`` like the real ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jouleflow.testing.traces import PowerTrace, trace_from_json, trace_to_json

# The kernel's value for a 32-bit counter at 15.3 µJ units (most Intel parts).
DEFAULT_RANGE_UJ = 262_143_328_850


@dataclass(frozen=True)
class FakeZone:
    link: str  # "intel-rapl:0" or "intel-rapl:0:1"
    name: str  # contents of the `name` file: package-0, core, uncore, dram, psys
    max_energy_range_uj: int = DEFAULT_RANGE_UJ
    max_power_uw: int | None = 200_000_000


@dataclass(frozen=True)
class FakePowercapTree:
    base: Path
    zones: tuple[FakeZone, ...]

    @property
    def root(self) -> Path:
        """The folder to pass as jouleflow's powercap root."""
        return self.base / "class" / "powercap"

    def zone_dir(self, link: str) -> Path:
        return self.root / link

    def energy_file(self, link: str) -> Path:
        return self.zone_dir(link) / "energy_uj"


def build_powercap_tree(base: str | os.PathLike[str], zones: list[FakeZone]) -> FakePowercapTree:
    """Lay out ``zones`` like the kernel does, under ``base``."""
    base = Path(base)
    control = base / "devices" / "virtual" / "powercap" / "intel-rapl"
    control.mkdir(parents=True, exist_ok=True)
    (control / "enabled").write_text("1\n")
    classdir = base / "class" / "powercap"
    classdir.mkdir(parents=True, exist_ok=True)
    _symlink(classdir / "intel-rapl", control)
    for zone in sorted(zones, key=lambda z: z.link.count(":")):
        parts = zone.link.split(":")
        zone_dir = control
        for depth in range(2, len(parts) + 1):
            zone_dir = zone_dir / ":".join(parts[:depth])
        zone_dir.mkdir(parents=True, exist_ok=True)
        (zone_dir / "name").write_text(zone.name + "\n")
        (zone_dir / "energy_uj").write_text("0\n")
        (zone_dir / "max_energy_range_uj").write_text(f"{zone.max_energy_range_uj}\n")
        (zone_dir / "enabled").write_text("1\n")
        (zone_dir / "constraint_0_name").write_text("long_term\n")
        if zone.max_power_uw is not None:
            (zone_dir / "constraint_0_max_power_uw").write_text(f"{zone.max_power_uw}\n")
        _symlink(classdir / zone.link, zone_dir)
    return FakePowercapTree(base, tuple(zones))


def _symlink(link: Path, target: Path) -> None:
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(target, link.parent))


def single_socket(base: str | os.PathLike[str], *, dram: bool = True) -> FakePowercapTree:
    zones = [FakeZone("intel-rapl:0", "package-0"), FakeZone("intel-rapl:0:0", "core")]
    if dram:
        zones.append(FakeZone("intel-rapl:0:1", "dram", max_power_uw=60_000_000))
    return build_powercap_tree(base, zones)


def two_socket_with_dram(base: str | os.PathLike[str]) -> FakePowercapTree:
    """A two-socket server; DRAM is sub-zone 0, core sub-zone 1: classification is by name."""
    zones = []
    for socket in (0, 1):
        zones += [
            FakeZone(f"intel-rapl:{socket}", f"package-{socket}"),
            FakeZone(f"intel-rapl:{socket}:0", "dram", max_power_uw=60_000_000),
            FakeZone(f"intel-rapl:{socket}:1", "core"),
        ]
    return build_powercap_tree(base, zones)


def laptop_with_psys(base: str | os.PathLike[str]) -> FakePowercapTree:
    """A client part: package with core/uncore/dram, and psys as top-level zone 1."""
    return build_powercap_tree(
        base,
        [
            FakeZone("intel-rapl:0", "package-0", max_power_uw=64_000_000),
            FakeZone("intel-rapl:0:0", "core"),
            FakeZone("intel-rapl:0:1", "uncore"),
            FakeZone("intel-rapl:0:2", "dram"),
            FakeZone("intel-rapl:1", "psys", max_power_uw=None),
        ],
    )


def amd_zen(base: str | os.PathLike[str]) -> FakePowercapTree:
    """AMD Zen as the kernel exposes it: package and core, no DRAM zone."""
    return build_powercap_tree(
        base, [FakeZone("intel-rapl:0", "package-0"), FakeZone("intel-rapl:0:0", "core")]
    )


class PowercapSimulator:
    """Drives the ``energy_uj`` files of a fake tree from traces, one update per ``tick_s``.

    Runs in a thread by default; ``process=True`` runs it in a child process so that it does not
    compete for this interpreter's GIL (use that when measuring jouleflow's own overhead).
    """

    def __init__(
        self,
        tree: FakePowercapTree,
        traces: Mapping[str, PowerTrace],
        *,
        tick_s: float = 0.001,
        initial_uj: Mapping[str, int] | None = None,
        process: bool = False,
    ) -> None:
        known = {z.link for z in tree.zones}
        unknown = set(traces) - known
        if unknown:
            raise ValueError(f"traces for zones not in the tree: {sorted(unknown)}")
        self.tree = tree
        self.traces = dict(traces)
        self.tick_s = tick_s
        self.initial_uj = dict(initial_uj or {})
        self.process = process
        self.t0_ns = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None

    # -- ground truth -------------------------------------------------------------------------
    def energy_j(self, link: str, start_ns: int, end_ns: int) -> float:
        """Exact energy of zone ``link`` between two CLOCK_MONOTONIC instants."""
        trace = self.traces[link]
        return trace.energy_j((end_ns - self.t0_ns) / 1e9) - trace.energy_j(
            (start_ns - self.t0_ns) / 1e9
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> PowercapSimulator:
        self.t0_ns = time.monotonic_ns()
        spec = self._spec()
        _write_all(spec)  # the first values are in place before anyone reads
        if self.process:
            spec_path = self.tree.base / "simulator.json"
            spec_path.write_text(json.dumps(spec))
            self._child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(spec_path)], stdout=subprocess.PIPE
            )
            # Wait for its first tick, so no window sees counters frozen while it starts up.
            assert self._child.stdout is not None
            if self._child.stdout.readline() != b"ready\n":
                raise RuntimeError("the powercap simulator process failed to start")
        else:
            self._stop.clear()
            self._thread = threading.Thread(
                target=_run, args=(spec, self._stop), name="powercap-simulator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._child is not None:
            self._child.terminate()
            self._child.communicate()
            self._child = None

    def __enter__(self) -> PowercapSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spec(self) -> dict[str, Any]:
        zones = {z.link: z for z in self.tree.zones}
        return {
            "t0_ns": self.t0_ns,
            "tick_s": self.tick_s,
            "zones": [
                {
                    "file": str(self.tree.energy_file(link)),
                    "modulus": zones[link].max_energy_range_uj + 1,
                    "initial_uj": self.initial_uj.get(link, 0),
                    "trace": trace_to_json(trace),
                }
                for link, trace in self.traces.items()
            ],
        }


def write_counter(fd: int, value_uj: int) -> None:
    """Overwrite a counter file in place, fixed width, in one ``pwrite``.

    In place, because readers keep the file open and ``pread`` it as they do sysfs; fixed width,
    so no stale digits remain. A reader racing the write sees the old or the new number: 6.5
    million reads against a writer rewriting as fast as it could found no torn value.
    """
    os.pwrite(fd, f"{value_uj:020d}\n".encode(), 0)


class _Writer:
    """Writes every zone's counter for the current instant; the hot loop of the simulator."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.t0_ns = int(spec["t0_ns"])
        self.zones = [
            (
                os.open(str(z["file"]), os.O_WRONLY),
                trace_from_json(z["trace"]),
                int(z["initial_uj"]),
                int(z["modulus"]),
            )
            for z in spec["zones"]
        ]

    def write(self) -> None:
        t_s = (time.monotonic_ns() - self.t0_ns) / 1e9
        for fd, trace, initial_uj, modulus in self.zones:
            value = (initial_uj + int(trace.energy_j(t_s) * 1e6)) % modulus
            write_counter(fd, value)

    def close(self) -> None:
        for fd, *_ in self.zones:
            os.close(fd)


def _write_all(spec: Mapping[str, Any]) -> None:
    writer = _Writer(spec)
    writer.write()
    writer.close()


def _run(spec: Mapping[str, Any], stop: threading.Event, announce: bool = False) -> None:
    writer = _Writer(spec)
    try:
        writer.write()
        if announce:
            print("ready", flush=True)
        while not stop.wait(float(spec["tick_s"])):
            writer.write()
    finally:
        writer.close()


_CHILD = "import sys; from jouleflow.testing.powercap import main; main(sys.argv[1:])"


def keep_time_like_hardware() -> bool:
    """Let this simulator process run ahead of ordinary work, as a hardware counter does.

    A real RAPL counter advances every millisecond whatever the CPUs are busy with. A simulator
    process on a loaded machine can be kept off the CPUs for tens of milliseconds, and a test
    comparing a reading with the exact truth then fails for a reason that is not jouleflow's.
    The simulator sleeps between its ticks, so real-time priority costs others little. It needs
    CAP_SYS_NICE (CI runs as root); without it the simulator keeps normal priority and says so.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (AttributeError, OSError) as err:
        print(
            f"simulated counter keeps normal priority ({err}): it may lag on a busy machine",
            file=sys.stderr,
        )
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Drive a fake powercap tree from a JSON spec.")
    parser.add_argument("spec")
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    keep_time_like_hardware()
    # SIGTERM ends the process as it is: a handler calling Event.set() while the main thread
    # waits on that Event can deadlock (threading is not async-signal-safe), which once hung
    # the suite. The files need no cleanup.
    _run(spec, threading.Event(), announce=True)


if __name__ == "__main__":
    main()
