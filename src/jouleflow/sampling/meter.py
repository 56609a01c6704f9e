"""Turns raw sensor readings into one cumulative energy vector per instant.

A ``Meter`` owns the open sensors. Each ``snapshot`` reads them and returns ``(t_ns, cum_uj)``:
for every domain the energy since the meter opened, in µJ. Counters are unwrapped (exact deltas,
never power × time); power readings are integrated holding each value until the next one, so a
value read at an edge and the next periodic sample always agree. Snapshots are serialised by a
lock, so cumulative vectors are monotonic in time whichever thread asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from jouleflow.domains import Domain, ReadingKind
from jouleflow.errors import SensorError
from jouleflow.sensors._counters import counter_delta

# (a sensor's read method, its first domain, past its last domain, the sensor's index)
_Read = tuple[Callable[[], Sequence[int | None]], int, int, int]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from jouleflow.sensors.base import Sensor

_UJ_PER_MW_NS = 1e-6  # 1 mW for 1 ns = 1e-12 J = 1e-6 µJ


class Meter:
    """The open sensors and the running totals derived from them."""

    def __init__(self, opened: Sequence[tuple[Sensor, tuple[Domain, ...]]]) -> None:
        self.sensors = tuple(sensor for sensor, _ in opened)
        self.domains: tuple[Domain, ...] = tuple(d for _, domains in opened for d in domains)
        self.errors: list[str] = []
        self._slices: list[slice] = []
        self._lock = threading.Lock()
        self._raw: list[int] = []
        self._cum: list[float] = []
        self._power_mw: list[int] = []
        self._t_ns = 0
        self._rate_ref: tuple[int, list[float]] = (0, [])
        self.failed: set[int] = set()  # indices of the sensors that failed (read-only outside)

        self._counter_idx = [
            i for i, d in enumerate(self.domains) if d.reading is ReadingKind.ENERGY_UJ
        ]
        self._power_idx = [
            i for i, d in enumerate(self.domains) if d.reading is ReadingKind.POWER_MW
        ]
        self._wrap = [d.wrap_uj for d in self.domains]
        start = 0
        for _, domains in opened:
            self._slices.append(slice(start, start + len(domains)))
            start += len(domains)

        # Counter sensors are read first and alone inside the timestamp's bracket, so slow
        # estimator reads do not shift it; at edges, sensors with nothing to read are skipped.
        def has_counter(index: int) -> bool:
            span = self._slices[index]
            return any(d.reading is ReadingKind.ENERGY_UJ for d in self.domains[span])

        order = range(len(self.sensors))
        self._counter_sensors = [i for i in order if has_counter(i)]
        self._other_sensors = [i for i in order if not has_counter(i)]
        edge_sensors = {i for i in order if any(d.edge_read for d in self.domains[self._slices[i]])}
        self._edge_counters = [i for i in self._counter_sensors if i in edge_sensors]
        self._edge_others = [i for i in self._other_sensors if i in edge_sensors]
        # Sensors that ask to be read less often (``read_every_s``), and domains whose readings
        # are the mean power since the sensor's previous reading (``reports_mean_power``).
        self._every_ns = [int(getattr(s, "read_every_s", 0.0) * 1e9) for s in self.sensors]
        self._due_ns = [0] * len(self.sensors)
        self._mean_idx = [
            i
            for index, sensor in enumerate(self.sensors)
            if getattr(sensor, "reports_mean_power", False)
            for i in range(self._slices[index].start, self._slices[index].stop)
        ]
        mean = set(self._mean_idx)
        self._held_idx = [i for i in self._power_idx if i not in mean]
        self._read_ns: list[int] = []  # per mean-power domain: its last reading's instant,
        self._window_ns: list[int] = []  # the window that reading covers,
        self._held_uj: list[float] = []  # what holding it has booked so far,
        self._debt_uj: list[float] = []  # and what held readings still owe their own windows
        self._plans: dict[bool, tuple[list[_Read], list[_Read]]] = {}
        self._plan()

    def _plan(self) -> None:
        """What ``read`` calls, bound once: (read method, first domain, past-the-last domain,
        sensor index).

        Rebuilt without a sensor when it fails, so the hot path has no per-sensor checks.
        """

        def reads(indices: Sequence[int], edge: bool) -> list[_Read]:
            return [
                (
                    self.sensors[i].read_edges if edge else self.sensors[i].read,
                    self._slices[i].start,
                    self._slices[i].stop,
                    i,
                )
                for i in indices
                if i not in self.failed
            ]

        self._plans = {
            True: (reads(self._edge_counters, True), reads(self._edge_others, True)),
            False: (reads(self._counter_sensors, False), reads(self._other_sensors, False)),
        }
        # ``read(edge=True)`` as one bound call, for callers that mark edges at a high rate
        self.read_edge = self._edge_reader()

    def start(self) -> tuple[int, tuple[float, ...]]:
        """Take the first reading of the (already opened) sensors; returns the zero point."""
        n = len(self.domains)
        self._cum = [0.0] * n
        self._power_mw = [0] * n
        self._raw = [0] * n
        t_ns = time.monotonic_ns()
        for index, sensor in enumerate(self.sensors):
            span = self._slices[index]
            if hasattr(sensor, "prime"):  # zero power at first, by definition (sensors/base.py)
                self._raw[span] = [0] * (span.stop - span.start)
            else:
                self._raw[span] = list(sensor.read())
        for i, domain in enumerate(self.domains):
            if domain.reading is ReadingKind.POWER_MW:
                self._power_mw[i] = self._raw[i]
        self._t_ns = t_ns
        self._rate_ref = (t_ns, list(self._cum))
        self._read_ns = [t_ns] * n
        self._window_ns = [0] * n
        self._held_uj = [0.0] * n
        self._debt_uj = [0.0] * n
        self._due_ns = [t_ns + every for every in self._every_ns]
        return t_ns, tuple(self._cum)

    def prime(self) -> None:
        """Let sensors with a deferred baseline take it (the sampler's thread, after the start)."""
        for index, sensor in enumerate(self.sensors):
            prime = getattr(sensor, "prime", None)
            if prime is None or index in self.failed:
                continue
            try:
                prime()
            except SensorError as err:
                self._fail(index, err)

    def close(self) -> None:
        for sensor in self.sensors:
            sensor.close()

    def snapshot(self, *, edge: bool = False) -> tuple[int, tuple[float, ...]]:
        """Read the sensors now; ``edge`` reads only the cheap exact ones (see Domain.edge_read)."""
        with self._lock:
            t_ns, readings = self.read(edge=edge)
            return t_ns, self.advance(t_ns, readings, periodic=not edge)

    def last_reading(self) -> tuple[int, tuple[float, ...]]:
        """The instant and cumulative µJ of the last reading accounted."""
        return self._t_ns, tuple(self._cum)

    def current_power_w(self) -> tuple[float, ...]:
        """Latest power per domain: the held reading, or the last counter rate."""
        with self._lock:
            return tuple(p / 1000 for p in self._power_mw)

    def read(self, *, edge: bool = False, force: bool = False) -> tuple[int, Sequence[int | None]]:
        """Raw values per domain (None where not read) and their instant; no accounting.

        Split from ``advance`` so that a phase edge can read now and account later, in a batch
        (``jouleflow.attribution.journal``). ``force`` reads the sensors that ``read_every_s``
        paces even when they are not due (the run's last reading). The caller serialises
        ``read`` and ``advance`` and advances the readings in the order they were read.
        """
        if edge:
            return self.read_edge()
        return self._read_plan(False, force)

    def _read_plan(self, edge: bool, force: bool = False) -> tuple[int, Sequence[int | None]]:
        readings: list[int | None] = [None] * len(self.domains)
        counters, others = self._plans[edge]
        before = time.monotonic_ns()
        try:
            for read, start, stop, _ in counters:
                readings[start:stop] = read()
            t_ns = (before + time.monotonic_ns()) // 2
            due, every = self._due_ns, self._every_ns
            for read, start, stop, index in others:
                if every[index]:  # a sensor read less often than the meter samples
                    if before < due[index] and not force:
                        continue
                    due[index] = before + every[index]
                readings[start:stop] = read()
        except SensorError:
            return self._read_carefully(edge, before)
        if len(readings) != len(self.domains):  # a sensor returned too many or too few values
            return self._read_carefully(edge, before)
        return t_ns, readings

    def _edge_reader(self) -> Callable[[], tuple[int, Sequence[int | None]]]:
        """``read(edge=True)``, specialised: the hot path of every phase edge.

        The usual machine has one sensor worth reading at an edge (the RAPL tree, or NVML): then
        it is one call between two clock reads, padded with None for the other domains.
        """
        counters, others = self._plans[True]
        if len(counters) != 1 or others:
            return lambda: self._read_plan(True)
        read, start, stop, _ = counters[0]
        head, tail = (None,) * start, (None,) * (len(self.domains) - stop)
        width, monotonic_ns = stop - start, time.monotonic_ns

        def read_one() -> tuple[int, Sequence[int | None]]:
            before = monotonic_ns()
            try:
                values = tuple(read())
            except SensorError:
                return self._read_carefully(True, before)
            t_ns = (before + monotonic_ns()) // 2
            if len(values) != width:
                return self._read_carefully(True, before)
            return t_ns, head + values + tail

        return read_one

    def raw_edge_reader(
        self,
    ) -> tuple[Callable[[], object], Callable[[object], Sequence[int | None]]] | None:
        """The edge read split in two: ``(read_raw, decode)``, or None where it cannot be.

        For the usual machine, whose one edge sensor can split its read (``read_raw`` and
        ``decode_raw``, sensors/base.py): a phase edge makes the system calls and nothing else,
        and its accounting decodes. ``decode`` gives the readings ``read(edge=True)`` would
        have; a reading that cannot be decoded fails its sensor (reported, as a failed read
        would be) and counts as no reading. Valid while ``failed`` is empty.
        """
        counters, others = self._plans[True]
        if len(counters) != 1 or others:
            return None
        _, start, stop, index = counters[0]
        sensor = self.sensors[index]
        read_raw = getattr(sensor, "read_raw", None)
        decode_raw = getattr(sensor, "decode_raw", None)
        if read_raw is None or decode_raw is None:
            return None
        head, tail = (None,) * start, (None,) * (len(self.domains) - stop)
        width, nothing = stop - start, (None,) * len(self.domains)

        def decode(raw: object) -> Sequence[int | None]:
            try:
                values = tuple(decode_raw(raw))
                if len(values) != width:
                    raise SensorError(f"returned {len(values)} values for {width} domains")
            except SensorError as err:
                if index not in self.failed:
                    self._fail(index, err)
                    self._plan()
                return nothing
            return head + values + tail

        return read_raw, decode

    def _read_carefully(self, edge: bool, before: int) -> tuple[int, Sequence[int | None]]:
        """``read`` again sensor by sensor, dropping (and reporting) the ones that fail."""
        readings: list[int | None] = [None] * len(self.domains)
        if edge:
            counters, others = self._edge_counters, self._edge_others
        else:
            counters, others = self._counter_sensors, self._other_sensors
        self._read_into(readings, counters, edge)
        t_ns = (before + time.monotonic_ns()) // 2
        self._read_into(readings, others, edge)
        self._plan()
        return t_ns, readings

    def advance(
        self,
        t_ns: int,
        readings: Sequence[int | None],
        *,
        periodic: bool = False,
        final: bool = False,
    ) -> tuple[float, ...]:
        """Account readings taken at ``t_ns``: the cumulative µJ per domain since the start.

        Power is held from one reading to the next. A sensor that reports the *mean* power since
        its previous reading (``reports_mean_power``) is thereby booked one reading late, over
        the next window rather than its own: the timeline stays smooth, and what that shift
        leaves over or owes (windows differ in length) is kept; ``final`` (the run's last
        reading) settles it and books the last reading over its own window: the total is whole.
        """
        cum, raw = self._cum, self._raw
        for i in self._counter_idx:
            value = readings[i]
            if value is not None:
                previous = raw[i]
                cum[i] += (
                    value - previous
                    if value >= previous
                    else counter_delta(previous, value, self._wrap[i])
                )
                raw[i] = value
        if self._power_idx:
            scale = (t_ns - self._t_ns) * _UJ_PER_MW_NS
            power = self._power_mw
            for i in self._held_idx:
                cum[i] += power[i] * scale
                value = readings[i]
                if value is not None:
                    power[i] = value
            for i in self._mean_idx:
                booked = power[i] * scale
                cum[i] += booked
                self._held_uj[i] += booked
                value = readings[i]
                if value is None:
                    continue
                owed = power[i] * self._window_ns[i] * _UJ_PER_MW_NS  # the held reading's own
                self._debt_uj[i] += owed - self._held_uj[i]
                self._window_ns[i] = t_ns - self._read_ns[i]
                self._held_uj[i] = 0.0
                self._read_ns[i] = t_ns
                power[i] = value
                if final:
                    cum[i] += self._debt_uj[i] + value * self._window_ns[i] * _UJ_PER_MW_NS
                    self._debt_uj[i] = 0.0
        if periodic:
            self._update_counter_rates(t_ns)
        self._t_ns = t_ns
        return tuple(cum)

    def _read_into(self, readings: list[int | None], indices: Sequence[int], edge: bool) -> None:
        for index in indices:
            if index in self.failed:
                continue
            sensor, span = self.sensors[index], self._slices[index]
            try:
                values: Sequence[int | None] = sensor.read_edges() if edge else sensor.read()
                if len(values) != span.stop - span.start:
                    raise SensorError(
                        f"returned {len(values)} values for {span.stop - span.start} domains"
                    )
            except SensorError as err:
                self._fail(index, err)
                continue
            readings[span] = values

    def _fail(self, index: int, err: SensorError) -> None:
        self.failed.add(index)
        self.errors.append(
            f"{self.sensors[index].name}: {err}; its energy stops at the last reading"
        )

    def _update_counter_rates(self, t_ns: int) -> None:
        """Average power of each counter since the previous periodic sample (for live display)."""
        ref_t_ns, ref_cum = self._rate_ref
        if t_ns <= ref_t_ns:
            return
        for i, domain in enumerate(self.domains):
            if domain.reading is ReadingKind.ENERGY_UJ:
                self._power_mw[i] = int((self._cum[i] - ref_cum[i]) / (t_ns - ref_t_ns) * 1e6)
        self._rate_ref = (t_ns, list(self._cum))
