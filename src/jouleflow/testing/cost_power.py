"""A simulated RAPL package whose energy is built from known costs of the work done on it.

    with CostPowerSimulator(tree, j_per_flop=50e-12, j_per_byte=150e-12, idle_w=12.0) as sim:
        probe = ReportingProbe(real_probe, sim)   # reports each run's FLOPs and bytes
        ...                                       # jouleflow reads the counter as it would RAPL

The counter (``energy_uj`` of one zone of a fake powercap tree) holds, at every instant,

    idle_w × (time since start) + j_per_flop × FLOPs reported + j_per_byte × bytes reported.

A child process owns the file: it rewrites it every ``tick_s`` (0.2 ms; in its own process, so
this interpreter's GIL never delays it) and at once when work is reported, acknowledging only
once the new value is written. ``ReportingProbe`` reports a probe's work as the probe ends,
inside the phase jouleflow opens around it, so that phase holds the probe's idle energy and its
work; a calibration that measures real probes through jouleflow should then recover the three
costs. A read at a phase edge can be up to one tick stale (as real RAPL counters are, every
millisecond), which misplaces at most ``idle_w`` × ``tick_s`` per edge, as often one way as the
other.
"""

from __future__ import annotations

import subprocess
import sys
import time
from types import TracebackType
from typing import Any

from jouleflow.testing.powercap import FakePowercapTree

_CHILD = r"""
import os, select, sys, time
from jouleflow.testing.powercap import keep_time_like_hardware
keep_time_like_hardware()
path, t0_ns, idle_w, tick_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fd = os.open(path, os.O_WRONLY)
dynamic_j = 0.0
def write():
    energy_j = idle_w * (time.monotonic_ns() - t0_ns) / 1e9 + dynamic_j
    os.pwrite(fd, f"{int(energy_j * 1e6):020d}\n".encode(), 0)
write()
sys.stdout.write("ready\n"); sys.stdout.flush()
stdin = sys.stdin.fileno()
while True:
    ready, _, _ = select.select([stdin], [], [], tick_s)
    if ready:
        line = sys.stdin.readline()
        if not line:
            break
        dynamic_j += float(line)
        write()
        sys.stdout.write("ok\n"); sys.stdout.flush()
    else:
        write()
"""


class CostPowerSimulator:
    def __init__(
        self,
        tree: FakePowercapTree,
        *,
        j_per_flop: float,
        j_per_byte: float,
        idle_w: float,
        link: str = "intel-rapl:0",
        tick_s: float = 0.0002,
    ) -> None:
        self.tree = tree
        self.j_per_flop = j_per_flop
        self.j_per_byte = j_per_byte
        self.idle_w = idle_w
        self.path = tree.energy_file(link)
        self.tick_s = tick_s
        self.flops = 0.0  # reported so far
        self.bytes = 0.0
        self.dynamic_j = 0.0
        self.t0_ns = 0
        self._child: subprocess.Popen[str] | None = None

    def energy_j(self, at_ns: int | None = None) -> float:
        """The exact energy since the start (the counter's value, less its tick)."""
        now = time.monotonic_ns() if at_ns is None else at_ns
        return self.idle_w * (now - self.t0_ns) / 1e9 + self.dynamic_j

    def report(self, flops: float = 0.0, nbytes: float = 0.0) -> None:
        """Add the energy of this work to the counter; returns once the counter holds it."""
        child = self._child
        if child is None or child.stdin is None or child.stdout is None:
            raise RuntimeError("the simulator is not running: use it as a context manager")
        energy_j = flops * self.j_per_flop + nbytes * self.j_per_byte
        self.flops += flops
        self.bytes += nbytes
        self.dynamic_j += energy_j
        child.stdin.write(f"{energy_j!r}\n")
        child.stdin.flush()
        if child.stdout.readline() != "ok\n":
            raise RuntimeError("the cost-power simulator process stopped")

    def start(self) -> CostPowerSimulator:
        self.t0_ns = time.monotonic_ns()
        args = [str(self.path), str(self.t0_ns), repr(self.idle_w), repr(self.tick_s)]
        self._child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._child.stdout is not None
        if self._child.stdout.readline() != "ready\n":
            raise RuntimeError("the cost-power simulator process failed to start")
        return self

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            assert child.stdin is not None
            child.stdin.close()  # the child ends at end of input
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()

    def __enter__(self) -> CostPowerSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ReportingProbe:
    """Wraps a calibration probe so that the simulator is told the work of each run."""

    def __init__(self, probe: Any, simulator: CostPowerSimulator) -> None:
        self.probe = probe
        self.simulator = simulator
        self.name: str = probe.name
        self.kind: str = probe.kind

    def prepare(self) -> None:
        """Size the probe: that work is neither reported nor measured."""
        prepare = getattr(self.probe, "prepare", None)
        if prepare is not None:
            prepare()

    def run(self) -> Any:
        work = self.probe.run()
        self.simulator.report(work.flops, work.bytes)
        return work
