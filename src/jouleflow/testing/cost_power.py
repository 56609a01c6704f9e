"""A simulated RAPL package whose energy is built from known costs of the work done on it.

    with CostPowerSimulator(tree, j_per_flop=50e-12, j_per_byte=150e-12, idle_w=12.0) as sim:
        probe = ReportingProbe(real_probe, sim)   # reports each run's FLOPs and bytes
        ...                                       # jouleflow reads the counter as it would RAPL

The counter (``energy_uj`` of one zone of a fake powercap tree) advances by ``idle_w`` × time, as
a background thread ticks and whenever anything is reported, plus ``j_per_flop`` × FLOPs and
``j_per_byte`` × bytes at the moment the work is reported. So a calibration that measures real
probes through jouleflow should recover exactly these three costs: the ground truth of
``jouleflow calibrate``'s tests.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType
from typing import Any

from jouleflow.testing.powercap import FakePowercapTree, write_counter


class CostPowerSimulator:
    def __init__(
        self,
        tree: FakePowercapTree,
        *,
        j_per_flop: float,
        j_per_byte: float,
        idle_w: float,
        link: str = "intel-rapl:0",
        tick_s: float | None = 0.001,
    ) -> None:
        self.tree = tree
        self.j_per_flop = j_per_flop
        self.j_per_byte = j_per_byte
        self.idle_w = idle_w
        self.path = tree.energy_file(link)
        self.tick_s = tick_s
        self.energy_j = 0.0  # the truth so far
        self.flops = 0.0
        self.bytes = 0.0
        self._last_ns = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd = -1

    def report(self, flops: float = 0.0, nbytes: float = 0.0) -> None:
        """Book the idle energy up to now and the work just done; rewrite the counter at once."""
        with self._lock:
            self.flops += flops
            self.bytes += nbytes
            self.energy_j += flops * self.j_per_flop + nbytes * self.j_per_byte
            self._advance()

    def _advance(self) -> None:
        now = time.monotonic_ns()
        self.energy_j += self.idle_w * (now - self._last_ns) / 1e9
        self._last_ns = now
        write_counter(self._fd, int(self.energy_j * 1e6))

    def start(self) -> CostPowerSimulator:
        self._fd = os.open(self.path, os.O_WRONLY)
        self._last_ns = time.monotonic_ns()
        self._stop.clear()
        with self._lock:
            self._advance()
        if self.tick_s is not None:
            self._thread = threading.Thread(target=self._tick, name="cost-power", daemon=True)
            self._thread.start()
        return self

    def _tick(self) -> None:
        assert self.tick_s is not None
        while not self._stop.wait(self.tick_s):
            with self._lock:
                self._advance()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

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
    """Wraps a calibration probe so that the simulator is told the work of each run.

    The counter is brought up to date as the probe starts and again with its FLOPs and bytes as
    it ends, so the phase around the run sees its idle energy and its work, nothing else.
    """

    def __init__(self, probe: Any, simulator: CostPowerSimulator) -> None:
        self.probe = probe
        self.simulator = simulator
        self.name: str = probe.name
        self.kind: str = probe.kind

    def prepare(self) -> None:
        prepare = getattr(self.probe, "prepare", None)
        if prepare is not None:
            prepare()

    def run(self) -> Any:
        self.simulator.report()
        work = self.probe.run()
        self.simulator.report(work.flops, work.bytes)
        return work
