"""One background thread that samples the meter at a steady rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from jouleflow.domains import Domain, Method, ReadingKind
from jouleflow.sampling.timeline import Timeline
from jouleflow.sensors._counters import poll_interval_bound_ns

SampleCallback = Callable[[int, tuple[float, ...]], None]


# Power readings are held until the next one, so a step in power is misplaced by up to one
# interval: 20 ms keeps that under ~2 % of a 1 s window. Counters are exact at every edge and
# need sampling only for the timeline and to see every wrap: once a second is plenty.
POWER_INTERVAL_S = 0.02
COUNTER_INTERVAL_S = 1.0


def sample_interval_ns(requested_s: float | None, domains: Sequence[Domain]) -> int:
    """The requested interval (or the automatic one), shortened so no counter wraps unseen."""
    if requested_s is None:
        measured_power = any(
            d.reading is ReadingKind.POWER_MW and d.method is Method.POWER_INTEGRATION
            for d in domains
        )
        requested_s = POWER_INTERVAL_S if measured_power else COUNTER_INTERVAL_S
    interval_ns = int(requested_s * 1e9)
    for domain in domains:
        if domain.reading is ReadingKind.ENERGY_UJ and domain.wrap_uj is not None:
            max_power_w = domain.max_power_w or 1000.0
            interval_ns = min(interval_ns, poll_interval_bound_ns(domain.wrap_uj, max_power_w))
    return interval_ns


class Sampler:
    """Takes a sample every ``interval_ns`` on a schedule that does not drift.

    ``take_sample`` is ``Meter.snapshot`` or a caller's wrapper of it (the run accounts the phase
    edges recorded before each sample first, so that the meter sees every reading in time order).
    """

    def __init__(
        self,
        take_sample: Callable[[], tuple[int, tuple[float, ...]]],
        timeline: Timeline,
        interval_ns: int,
        on_sample: SampleCallback | None = None,
        prime: Callable[[], None] | None = None,
    ) -> None:
        self.take_sample = take_sample
        self.timeline = timeline
        self.interval_ns = interval_ns
        self.on_sample = on_sample
        self.prime = prime  # first thing on the thread: baselines deferred from the start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="jouleflow-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        next_ns = time.monotonic_ns() + self.interval_ns
        if self.prime is not None:
            self.prime()
        while not self._stop.wait(max(0, next_ns - time.monotonic_ns()) / 1e9):
            t_ns, cum = self.take_sample()
            self.timeline.append(t_ns, cum)
            if self.on_sample is not None:
                self.on_sample(t_ns, cum)
            next_ns += self.interval_ns
            if next_ns < t_ns:  # fell behind (suspended, overloaded): skip, don't burst
                next_ns = t_ns + self.interval_ns
