"""A simulated RAPL package whose power follows the phase your code says it is in.

Attribution tests need an exact answer: with known watts per phase, the true energy of each phase
is watts × the time the code spent in it. Call ``set_phase(name)`` at each transition, *before*
jouleflow sees it (register your hooks first): the simulator books the energy of the phase that
ended, switches power, and rewrites the counter at once, so a read at the same edge is exact. A
background thread can also advance the counter every ``tick_s``, like the hardware does; leave it
off (``tick_s=None``) to compare phases exactly, since a tick landing between your edge and
jouleflow's would move energy across the boundary just as a GIL switch moves the boundary.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from types import TracebackType

from jouleflow.testing.powercap import FakePowercapTree, write_counter


class PhasePowerSimulator:
    def __init__(
        self,
        tree: FakePowercapTree,
        watts: Mapping[str, float],
        *,
        idle_w: float = 10.0,
        link: str = "intel-rapl:0",
        tick_s: float | None = 0.001,
    ) -> None:
        self.tree = tree
        self.watts = dict(watts)
        self.idle_w = idle_w
        self.path = tree.energy_file(link)
        self.tick_s = tick_s
        self.phase: str | None = None
        self.energy_by_phase_j: dict[str | None, float] = {}
        self._energy_j = 0.0
        self._last_ns = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd = -1

    def power_w(self, phase: str | None) -> float:
        return self.watts.get(phase, self.idle_w) if phase is not None else self.idle_w

    def set_phase(self, phase: str | None) -> None:
        """Book the energy so far to the phase that ends, then switch power to ``phase``."""
        with self._lock:
            self._advance()
            self.phase = phase

    def _advance(self) -> None:
        now = time.monotonic_ns()
        energy_j = self.power_w(self.phase) * (now - self._last_ns) / 1e9
        self._energy_j += energy_j
        self.energy_by_phase_j[self.phase] = self.energy_by_phase_j.get(self.phase, 0.0) + energy_j
        self._last_ns = now
        write_counter(self._fd, int(self._energy_j * 1e6))

    def start(self) -> PhasePowerSimulator:
        self._fd = os.open(self.path, os.O_WRONLY)
        self._last_ns = time.monotonic_ns()
        self._stop.clear()
        with self._lock:
            self._advance()
        if self.tick_s is not None:
            self._thread = threading.Thread(target=self._tick, name="phase-power", daemon=True)
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

    def __enter__(self) -> PhasePowerSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
